"""Questions a worker asks of a technical manual (English): which function does X, what does
it return when Y, which option of a command does Z, what is the default, which file or
command a sentence names, how many.

  function    an API entry ("[Function]int asn1_delete_element (...) ... Deletes the
              element ...") -> "Which function deletes the element ...?" -> its name; its
              "Returns: CODE if ..." list -> "What does f return if ...?" -> the code
  option      a command's option list ("-c, --check checks the syntax only") -> "Which
              asn1Parser option checks the syntax only?" -> "--check"
  default     "the default type of X for Y" / "Z defaults to X" -> "What is the default
              type for Y?" / "What does Z default to?" -> X
  identifier  a sentence naming a file, command, element, ... ("the update-mime-database
              command") -> "Which command ...?" / "..., run which command?" -> the name;
              "The header file of this library is libtasn1.h." -> "What is ...?"
  count       "There are two important requirements for ..." -> "How many important
              requirements are there for ...?" -> "two important requirements"

Every candidate's answers are verbatim in its evidence, which is verbatim passage text
(:func:`edgekit.qa.questions.valid` checks it like every other kind).
"""

from __future__ import annotations

import re

from edgekit.qa.facts import UNITS, Names, lower_start, split_sentences
from edgekit.qa.passage import DEICTIC, PRONOUN_START, Candidate, Passage, context

# a name as code writes it: libtasn1.h, update-mime-database, asn1_node, <MIME>/packages/
_TOKEN = r"[A-Za-z_<~/][\w<>~./+*:-]*[\w>/*]"
_NOUNS = (
    "command|file|function|element|attribute|directory|folder|type|option|variable|macro|"
    "constant|header|key|field|program|package|library|tool|utility|parameter|argument|"
    "method|class|module|setting|string|extension|pattern|namespace|node|flag|service|script"
)
_NAMED = re.compile(
    rf"\b[Tt]he (?P<tok>{_TOKEN})(?P<adj> [a-z]+)? (?P<noun>{_NOUNS})\b(?![\w-])"
    rf"|\b(?:named|called) (?P<named>{_TOKEN})"
)
_COPULA = re.compile(
    rf"^(?P<subj>(?:The|A|An) [^,;:()]{{3,70}}?) (?P<verb>is|are) (?P<tok>{_TOKEN})$"
)
_THIS = re.compile(
    r"\bthis (library|specification|spec|document|manual|guide|program|tool|package|standard)\b"
)
_NUM_WORDS = "two three four five six seven eight nine ten eleven twelve".split()
_COUNT = re.compile(
    r"\b(?P<n>" + "|".join(_NUM_WORDS) + r"|[2-9]|[1-9]\d)"
    r" (?P<noun>(?:[a-z][a-z-]+ )?[a-z][a-z-]+[^s\W]s)\b(?![-/.]\w)"
)
_NOT_COUNTED = frozenset(
    "seconds minutes hours days weeks months years times bytes bits percent ones others "
    "items things ways cases does is was has goes makes takes gives needs works uses "
    "comes runs".split()
)
_3RD = re.compile(r"^(?P<verb>[A-Z][a-z]+(?:es|s))\s(?P<rest>.+)$")
_NOT_VERBS = frozenset("this its is was has does as us thus yes less unless bus".split())
# an API description in the imperative ("Create a deep copy of ...")
_BASE_VERBS = frozenset(
    "create copy return read write set get check convert extract decode encode print delete "
    "find search expand parse initialize initialise free compute add remove load save open "
    "close make build generate count compare test store update validate verify insert append "
    "allocate release start stop run fill reset clear register lookup look map".split()
)


def _third_person(verb: str) -> str:
    """create -> creates, copy -> copies, search -> searches."""
    if re.search(r"(?:s|sh|ch|x|z)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


_SIGNATURE = re.compile(
    r"(?:\[Function\]\s*)?(?:(?:const |unsigned |signed |struct |static )*[\w*]+\s+\**)?"
    r"(?P<name>[A-Za-z_][\w]*)\s?\((?P<args>[^()]{0,400})\)"
)
_RETURNS = re.compile(r"\bReturns?:\s*(?P<body>[^.]+(?:\.\s|\.$|$))")
_RETURN_CASE = re.compile(r"(?P<code>[A-Z][A-Z0-9_]{3,}) if (?P<cond>[^,]{3,90}?)\s*(?=,|\.|$)")
_OPTION = re.compile(
    r"(?:(?<=\s)|^)(?:-(?P<short>\w), )?--(?P<long>[a-z][\w-]+)(?:=(?P<arg>[A-Z]+))?\s+"
    r"(?P<desc>[a-z][^\s-]*(?: (?!-{1,2}\w)(?![A-Z][a-z])\S+){0,11})"
)
_USAGE = re.compile(r"\bUsage:\s+(?P<cmd>[\w.-]+)")
_INVOKING = re.compile(r"^(?:\d[\d.]*\s+)?(?:Invoking|Running|Using)\s+(?P<cmd>[\w.-]+)$", re.I)
_IMPERATIVE = frozenset(
    "display print perform show use read write set enable disable check generate make run "
    "force keep ignore suppress list add remove skip treat do stop exit give specify select "
    "include exclude save load create delete update verify allow".split()
)
_DEFAULT_OF = re.compile(
    r"\bthe default (?P<noun>[a-z][a-z -]{1,30}?) (?:is|of) (?P<val>[^\s,;]+(?: or [^\s,;]+)?)"
    r"(?: for (?P<for>[a-z][^,.;()]{2,40}?))?(?=[,.;]|$| or )"
)
_DEFAULTS_TO = re.compile(
    r"^(?P<subj>(?:The |An? )?[A-Za-z][\w .-]{2,50}?) defaults? to (?P<val>[^\s,;]+(?: [^\s,;]+)?)"
    r"(?=[,.;]|$)"
)


def _clean(text: str) -> str:
    """PDF reference text as a question reads it: no "* " pointer marks, no space before
    punctuation, single spaces."""
    text = re.sub(r"(?<![\w)])\*\s*", "", text)
    text = re.sub(r"(?<=[a-z])- (?=[a-z])|(?<=[A-Z])- (?=[A-Z])", "", text)  # "contain- ing"
    return re.sub(r"\s+([,.;:?)])", r"\1", " ".join(text.split()))


def _is_code(token: str) -> bool:
    """A name as code writes it (not an English word): has _ . / < or an inner capital or
    digit, or is hyphenated lower case."""
    bare = token.strip(".,;:")
    return (
        len(bare) >= 3
        and bare.lower() not in ("e.g", "i.e", "etc")
        and (
            bool(re.search(r"[_/<.]", bare.strip(".")))
            or bool(re.search(r"[a-z][A-Z]|[A-Za-z]\d", bare))
            or bool(re.fullmatch(r"[a-z]+(?:-[a-z0-9]+){2,}", bare))
        )
    )


_RUNNING = re.compile(r"^(?:(?:Chapter|Appendix) \w+: [^.]{2,60}? \d{1,4} )")


def _sentences(p: Passage) -> list[str]:
    """The passage's sentences, without a PDF page's running header glued to the first
    ("Shared MIME-info Database The file starts ...", "Chapter 4: Function reference 11 ...")."""
    out = []
    for s in split_sentences(p.text):
        s = _RUNNING.sub("", " ".join(s.split()))
        if (
            p.title
            and s.startswith(p.title + " ")
            and s[len(p.title) + 1 : len(p.title) + 2].isupper()
        ):
            s = s[len(p.title) + 1 :]
        out.append(s)
    return out


def _usable(sentence: str) -> bool:
    words = sentence.split()
    return (
        5 <= len(words) <= 40
        and not DEICTIC.search(sentence)
        and words[0].lower().strip('"(') not in PRONOUN_START
        and bool(re.match(r"[\"“(]?[A-Z]", sentence))
    )


# ---- API reference ---------------------------------------------------------------------------
def function_candidates(p: Passage) -> list[Candidate]:
    """An API entry: a signature at the start of the section (or after "[Function]"), its
    description's first sentence, and its "Returns:" cases."""
    text = " ".join(p.text.split())
    m = _SIGNATURE.search(text[:300])
    leaf = re.sub(r"\W+", "_", p.heading_path[-1].strip()).lower() if p.heading_path else ""
    if not m or not (
        "[Function]" in text[: m.start() + 12]
        or m["name"].lower() == leaf
        or ("_" in m["name"] and m.start() < 40)
    ):
        return []
    name, out = m["name"], []
    for sentence in split_sentences(text[m.end() :]):
        verb = _3RD.match(sentence)
        first = sentence.split(" ", 1)[0]
        if verb and verb["verb"].lower() not in _NOT_VERBS and verb["verb"] != "Returns":
            ask = f"{verb['verb'].lower()} {verb['rest'].split('. ')[0]}"
        elif first.lower() in _BASE_VERBS and first[:1].isupper() and " " in sentence:
            ask = f"{_third_person(first.lower())} {sentence.split(' ', 1)[1].split('. ')[0]}"
        elif first == "Function" and sentence.startswith("Function used to "):
            ask = "is " + sentence[len("Function ") :]
        else:
            continue
        words = ask.split()
        if 3 <= len(words) <= 25 and ":" not in ask and name not in ask:
            question = f"Which function {_clean(ask).rstrip('. ')}?"
            evidence = text[m.start() : text.index(sentence) + len(sentence)]
            out.append(Candidate(question, (name,), evidence, "function"))
        break
    for r in _RETURNS.finditer(text):
        for case in list(_RETURN_CASE.finditer(r["body"]))[:4]:
            cond = _clean(case["cond"]).rstrip(". ")
            if 1 <= len(cond.split()) <= 14 and not re.search(r"\bor an? error\b", cond):
                question = f"What does {name} return if {cond}?"
                out.append(Candidate(question, (case["code"],), r.group().strip(), "function"))
    return out


# ---- command options -------------------------------------------------------------------------
def _command(p: Passage, text: str) -> str | None:
    usage = _USAGE.search(text)
    if usage:
        return usage["cmd"]
    leaf = _INVOKING.match(p.heading_path[-1].strip()) if p.heading_path else None
    return leaf["cmd"] if leaf else None


def option_candidates(p: Passage) -> list[Candidate]:
    """Options of a command ("-o, --output=FILE output file"): "Which <cmd> option ...?"."""
    out: list[Candidate] = []
    for para in p.text.split("\n\n"):
        text = " ".join(para.split())
        cmd = _command(p, text) or _command(p, " ".join(p.text.split()))
        if cmd is None:
            continue
        for m in _OPTION.finditer(text):
            desc = m["desc"].rstrip(".,;")
            first = desc.split(" ", 1)[0]
            if len(desc.split()) < 2:
                continue
            if first.endswith("s") and not first.endswith("ss"):
                question = f"Which {cmd} option {desc}?"
            elif first in _IMPERATIVE:
                question = f"Which option makes {cmd} {desc}?"
            else:
                question = f"Which {cmd} option sets the {desc}?"
            out.append(Candidate(question, (f"--{m['long']}",), m.group().strip(), "option"))
    return out


# ---- defaults --------------------------------------------------------------------------------
def default_candidates(p: Passage, names: Names) -> list[Candidate]:
    out: list[Candidate] = []
    for sentence in _sentences(p):
        for m in _DEFAULT_OF.finditer(sentence):
            val = m["val"].rstrip(".")
            if len(m["noun"].split()) > 4 or not val:
                continue
            where = f" for {m['for']}" if m["for"] else ""
            question = f"What is the default {m['noun']}{where}?"
            out.append(Candidate(question, (val,), sentence, "default"))
        d = _DEFAULTS_TO.match(sentence)
        if d and d["subj"].split()[0].lower() not in PRONOUN_START:
            subj = lower_start(d["subj"], names)
            val = d["val"].rstrip(".")
            out.append(Candidate(f"What does {subj} default to?", (val,), sentence, "default"))
    return out


# ---- names of files, commands, elements --------------------------------------------------------
def _this(text: str, p: Passage) -> str:
    return _THIS.sub(lambda m: f"the {p.title} {m[1]}", text)


def identifier_candidates(p: Passage, names: Names) -> list[Candidate]:
    out: list[Candidate] = []
    ctx = context(p)
    for sentence in _sentences(p):
        body = sentence.rstrip(" .!;:")
        copula = _COPULA.match(body)
        if copula and _is_code(copula["tok"]) and not DEICTIC.search(copula["subj"]):
            subj = _this(lower_start(copula["subj"], names), p)
            if len(subj.split()) <= 12:
                question = f"What {copula['verb']} {subj}?"
                out.append(Candidate(question, (copula["tok"],), sentence, "identifier"))
                continue
        if not _usable(sentence):
            continue
        for m in _NAMED.finditer(body):
            tok = m["tok"] or m["named"]
            if not _is_code(tok) or body.count(tok) > 1:
                continue
            if m["named"]:
                wh = (
                    m.group()
                    .split(" ", 1)[0]
                    .replace("named", "named what")
                    .replace("called", "called what")
                )
            else:
                wh = f"which{m['adj'] or ''} {m['noun']}"
            asked = body[: m.start()] + wh + body[m.end() :]
            if m.start() == 0 and not m["named"]:
                question = f"{wh[0].upper()}{wh[1:]}{asked[len(wh) :]}?"
            else:
                question = f"According to {ctx}, {lower_start(asked, names)}?"
            out.append(Candidate(_this(question, p), (tok.rstrip("."),), sentence, "identifier"))
            break
        else:
            if (c := _code_object(sentence, body, ctx, names)) is not None:
                out.append(Candidate(_this(c.question, p), c.answers, sentence, "identifier"))
    return out


_QUOTED = re.compile(r"[\"“‘'](?P<lit>[^\"“”‘’']{2,30})[\"”’']")
_OBJECT_BEFORE = frozenset(
    "of to from in into as is are use uses using called named by with for than string "
    "value pattern name has have".split()
)


def _code_object(sentence: str, body: str, ctx: str, names: Names) -> Candidate | None:
    """The one code name of a sentence, as the object of a verb or preposition ("audio/midi
    has an alias of audio/x-midi") -> "..., audio/midi has an alias of what?"."""
    tokens = [m for m in re.finditer(_TOKEN, body) if _is_code(m.group())]
    tokens += [
        m
        for m in _QUOTED.finditer(body)
        if len(m["lit"].split()) <= 3 and not re.fullmatch(r"[a-z ]+", m["lit"])
    ]
    if len(tokens) != 1 or tokens[0].start() == 0:
        return None
    m = tokens[0]
    name = m["lit"] if "lit" in m.re.groupindex else m.group().rstrip(".")
    before = body[: m.start()].split()
    if not before or before[-1].lower() not in _OBJECT_BEFORE or body.count(name) > 1:
        return None
    end, wh = m.end(), "what"
    if body[end : end + 2] == "()":
        end, wh = end + 2, "which function"
    asked = body[: m.start()] + wh + body[end:]
    question = f"According to {ctx}, {lower_start(_clean(asked), names)}?"
    return Candidate(question, (name,), sentence, "identifier")


# ---- how many ----------------------------------------------------------------------------------
def count_candidates(p: Passage, names: Names) -> list[Candidate]:
    out: list[Candidate] = []
    ctx = context(p)
    for sentence in _sentences(p):
        there_is = re.match(r"There (?:are|will be) ", sentence) is not None
        if not (_usable(sentence) or (there_is and _usable("X" + sentence[5:]))):
            continue
        if re.search(r"\d[.:]\d|\bChapter \d", sentence):
            continue
        found = list(_COUNT.finditer(sentence))
        if len(found) != 1:
            continue
        m = found[0]
        noun = m["noun"]
        head = noun.split()[-1]
        if any(w in UNITS for w in noun.split()):
            continue  # "9 kg extinguishers": a quantity (facts.py asks for those)
        before = sentence[: m.start()].split()[-1:] or [""]
        if (
            head in _NOT_COUNTED
            or before[0].lower() in ("of", "version", "section", "page", "those", "these")
            or sentence[m.end() : m.end() + 1] == ":"
        ):
            continue
        answers = (m.group(),)  # verbatim: "two important requirements"
        there = re.match(rf"^There (are|will be) {re.escape(m.group())}\b(?P<rest>.*)$", sentence)
        if there:
            rest = there["rest"].rstrip(" .!;:")
            verb = "are there" if there[1] == "are" else "will there be"
            question = f"How many {noun} {verb}{rest}?"
        else:
            body = sentence[: m.start()] + f"how many {noun}" + sentence[m.end() :]
            question = f"According to {ctx}, {lower_start(body.rstrip(' .!;:'), names)}?"
        out.append(Candidate(_this(question, p), answers, sentence, "count"))
    return out


def technical_candidates(p: Passage, names: Names) -> list[Candidate]:
    """Every technical-manual candidate of a passage (unchecked: see questions.valid)."""
    return [
        *function_candidates(p),
        *option_candidates(p),
        *default_candidates(p, names),
        *identifier_candidates(p, names),
        *count_candidates(p, names),
    ]
