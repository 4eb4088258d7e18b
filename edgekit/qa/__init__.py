"""QA evaluation sets: questions a site worker asks, answered from the site's own documents.

``evalset`` holds the item format, reading a user's ``eval/qa.jsonl``, the dev/test split and
the build entry point; ``questions`` the rule-based generators (``facts`` finds the fact spans
and key phrases they ask about, ``spread`` picks a spread of them over documents and sections);
``teacher`` the optional model-written questions. An evaluation set is never trained on.
"""
