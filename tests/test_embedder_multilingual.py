"""Multilingual embedders: local sentence-transformers folders of the bge shape (BERT, CLS
pooling, query/passage prompts) and of the e5 shape (XLM-RoBERTa, mean pooling, no
token_type_ids), built here with random weights, exported, compared with torch, ingested."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from edgekit.errors import EdgekitError
from edgekit.kb import embedder as em
from edgekit.kb.embedder import OnnxEmbedder, Prefixes, PrefixSetting
from edgekit.kb.export import export_embedder, read_pooling

DOCS = {
    "battery.md": "# 电池安全\n\n锂电池充电时必须有人看守。\n\n"
    "## 存放\n\n电池存放在阴凉干燥的地方。\n",
    "fire.md": "# 消防\n\n灭火器每月检查一次。发生火灾时立即撤离。\n",
    "gas.md": "# 瓦斯\n\n瓦斯浓度超过百分之一时停止作业。\n",
}
QUESTION = "电池怎么存放？"
PROMPTS = {"query": "query: ", "passage": "passage: "}
WORDS = ["query", "passage", "x", "an", "example", "sentence", "a", "second", "longer"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MARKS = [",", ":", "#", "?", "."]
#: weights this wide make random models give texts clearly different vectors (at BERT's
#: 0.02 every text's vector has cosine ~0.99999 to every other)
INIT_STD = 0.5


def cjk_and_punctuation() -> list[str]:
    """Every non-ASCII character of the test texts (BERT cuts CJK text per character)."""
    text = "".join(DOCS.values()) + QUESTION
    return sorted({c for c in text if not c.isascii() and not c.isspace()})


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False))


def st_files(folder: Path, pooling: dict[str, object], prompts: dict[str, str] | None) -> None:
    """modules.json, the Pooling config, prompts and max length of a sentence-transformers
    folder (Transformer -> Pooling -> Normalize, as bge and e5 ship)."""
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    write_json(
        folder / "modules.json",
        [
            {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{t}"}
            for i, (p, t) in enumerate(kinds)
        ],
    )
    write_json(folder / "1_Pooling" / "config.json", {"word_embedding_dimension": 32, **pooling})
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": 64})
    if prompts is not None:
        write_json(folder / "config_sentence_transformers.json", {"prompts": prompts})


def bge_shaped(folder: Path) -> Path:
    """A tiny random BERT folder: WordPiece vocab with the test's Chinese characters, CLS
    pooling, query/passage prompts (how bge-small-zh and e5 folders look)."""
    import torch
    import transformers

    folder.mkdir(parents=True)
    vocab = SPECIALS + WORDS + MARKS + cjk_and_punctuation()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=INIT_STD,
    )
    transformers.BertModel(config).save_pretrained(str(folder))
    pooling = {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    st_files(folder, pooling, PROMPTS)
    return folder


def e5_shaped(folder: Path) -> Path:
    """A tiny random XLM-RoBERTa folder (Unigram tokenizer, no token_type_ids), mean
    pooling, no prompts file (multilingual-e5 needs its prefixes set in the config)."""
    import tokenizers
    import torch
    import transformers
    from tokenizers import decoders, models, pre_tokenizers, processors

    folder.mkdir(parents=True)
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("<mask>", 0.0)]
    pieces = [("▁", -3.0)] + [(f"▁{w}", -1.0) for w in WORDS] + [(m, -2.0) for m in MARKS]
    pieces += [(c, -2.0) for c in cjk_and_punctuation()]
    tok = tokenizers.Tokenizer(models.Unigram(specials + pieces, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    names = ["bos", "eos", "sep", "cls", "unk", "pad", "mask"]
    values = ["<s>", "</s>", "</s>", "<s>", "<unk>", "<pad>", "<mask>"]
    transformers.XLMRobertaTokenizerFast(
        tokenizer_object=tok, **{f"{n}_token": v for n, v in zip(names, values)}
    ).save_pretrained(str(folder))
    torch.manual_seed(1)
    config = transformers.XLMRobertaConfig(
        vocab_size=len(specials) + len(pieces),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        initializer_range=INIT_STD,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    transformers.XLMRobertaModel(config).save_pretrained(str(folder))
    st_files(folder, {"pooling_mode": "mean"}, None)
    return folder


def torch_vectors(folder: Path, texts: list[str], pooling: str) -> np.ndarray:
    """Reference vectors computed with torch from the model folder: pooled, L2-normalised."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.fixture(scope="module")
def bge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bge_shaped(tmp_path_factory.mktemp("st") / "bge-tiny-zh")


@pytest.fixture(scope="module")
def bge_onnx(bge: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    out = tmp_path_factory.mktemp("onnx") / "embedder"
    return OnnxEmbedder(export_embedder(str(bge), out, quantize=False))


def test_the_vocab_covers_the_chinese_text(bge: Path):
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(bge / "tokenizer.json"))
    for text in [*DOCS.values(), QUESTION]:
        assert "[UNK]" not in tok.encode(text).tokens
    assert tok.encode("电池").tokens == ["[CLS]", "电", "池", "[SEP]"]


def test_export_records_cls_pooling_and_the_folder_prompts(bge_onnx: OnnxEmbedder):
    assert bge_onnx.pooling == em.POOLING_CLS
    assert bge_onnx.prefixes == Prefixes("query: ", "passage: ")
    meta = json.loads((bge_onnx.folder / em.META_FILE).read_text())
    assert meta[em.E_POOLING] == "cls"
    assert (meta[em.E_QUERY_PREFIX], meta[em.E_PASSAGE_PREFIX]) == ("query: ", "passage: ")


def test_queries_and_passages_get_their_prefix_and_cls_pooling(bge: Path, bge_onnx: OnnxEmbedder):
    texts = ["query: x", "passage: x", "x", "passage: 电池存放在阴凉干燥的地方。"]
    cls = torch_vectors(bge, texts, "cls")
    np.testing.assert_allclose(bge_onnx.embed_queries(["x"])[0], cls[0], atol=1e-4)
    np.testing.assert_allclose(bge_onnx.embed_passages(["x"])[0], cls[1], atol=1e-4)
    passages = bge_onnx.embed_passages(["x", "电池存放在阴凉干燥的地方。"])
    np.testing.assert_allclose(passages[1], cls[3], atol=1e-4)
    # the reference tells these apart: the prefix and the pooling both change the vector
    assert not np.allclose(cls[0], cls[2], atol=1e-3)
    assert not np.allclose(cls[0], torch_vectors(bge, ["query: x"], "mean")[0], atol=1e-3)
    # token counts (chunk sizes) are of the text alone
    assert bge_onnx.count_tokens("电池") == 2


def test_fingerprint_follows_prefixes_and_pooling(bge: Path, bge_onnx: OnnxEmbedder, tmp_path):
    plain = OnnxEmbedder(
        export_embedder(str(bge), tmp_path / "e", quantize=False, prefixes=PrefixSetting(query=""))
    )
    # explicit setting wins (even ""), the unset one keeps the folder's prompt
    assert plain.prefixes == Prefixes("", "passage: ")
    assert plain.fingerprint != bge_onnx.fingerprint
    folder, length = bge_onnx.folder, bge_onnx.max_length
    one = em.fingerprint(folder, length, em.POOLING_CLS, Prefixes("query: ", "passage: "))
    assert one == bge_onnx.fingerprint
    assert em.fingerprint(folder, length, em.POOLING_MEAN, bge_onnx.prefixes) != one
    assert em.fingerprint(folder, length, em.POOLING_CLS, Prefixes("query: ", "")) != one


def test_xlm_roberta_without_token_type_ids_and_mean_pooling(tmp_path: Path):
    folder = e5_shaped(tmp_path / "e5-tiny")
    assert "token_type_ids" not in __import__("transformers").AutoTokenizer.from_pretrained(
        str(folder)
    )("x")
    setting = PrefixSetting("query: ", "passage: ")  # what kb.query_prefix/passage_prefix set
    emb = OnnxEmbedder(export_embedder(str(folder), tmp_path / "e", False, setting))
    assert emb.pooling == em.POOLING_MEAN and emb.prefixes == Prefixes("query: ", "passage: ")
    want = torch_vectors(folder, ["query: 电池怎么存放？", "passage: 灭火器每月检查一次。"], "mean")
    np.testing.assert_allclose(emb.embed_queries([QUESTION])[0], want[0], atol=1e-4)
    np.testing.assert_allclose(emb.embed_passages(["灭火器每月检查一次。"])[0], want[1], atol=1e-4)


@pytest.mark.parametrize(
    "pooling, want",
    [
        ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, "cls"),
        ({"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}, "mean"),
        ({"pooling_mode": "cls", "include_prompt": True}, "cls"),
        ({"pooling_mode": ["mean"]}, "mean"),
        ({"pooling_mode_max_tokens": True}, "max_tokens is not supported"),
        ({"pooling_mode": ["cls", "mean"]}, "cls \\+ mean is not supported"),
    ],
)
def test_pooling_is_read_from_the_folder(tmp_path: Path, pooling: dict, want: str):
    st_files(tmp_path, pooling, None)
    if want in em.POOLINGS:
        assert read_pooling(tmp_path) == want
    else:
        with pytest.raises(EdgekitError, match=want):
            read_pooling(tmp_path)


def test_a_folder_without_modules_is_mean_and_a_dense_module_is_refused(tmp_path: Path):
    assert read_pooling(tmp_path) == em.POOLING_MEAN  # plain Hugging Face folder
    write_json(tmp_path / "modules.json", [{"path": "2_Dense", "type": "x.models.Dense"}])
    with pytest.raises(EdgekitError, match="Dense cannot be exported"):
        read_pooling(tmp_path)


def write_docs(folder: Path) -> Path:
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_cli_ingests_and_queries_chinese_docs_with_the_folder(bge: Path, tmp_path: Path):
    from edgekit.kb.store import EMBEDDER_DIR

    docs, db = write_docs(tmp_path / "docs"), tmp_path / "kb"
    run_cli(
        "kb", "ingest", str(docs), "--db", str(db), "--embedder", str(bge), "--quiet", check=True
    )
    # the KB (and so the bundle) carries the pooling and prefixes in its embedder
    shipped = OnnxEmbedder(db / EMBEDDER_DIR)
    assert shipped.pooling == "cls" and shipped.prefixes == Prefixes("query: ", "passage: ")
    found = run_cli("kb", "query", str(db), QUESTION, "--mode", "vector", "-k", "2", check=True)
    assert found.stdout.count(".md") == 2, found.stdout
    stats = run_cli("kb", "stats", str(db), check=True).stdout
    assert "cls+l2" in stats and "'query: '" in stats


def test_kb_embeds_chunks_as_passages_and_questions_as_queries(
    bge_onnx: OnnxEmbedder, tmp_path: Path
):
    """On the fp32 export (dynamic int8 depends on the batch a text is embedded in)."""
    from edgekit.kb.store import KnowledgeBase, embed_text

    kb = KnowledgeBase.create(tmp_path / "kb", bge_onnx.folder)
    kb.ingest(write_docs(tmp_path / "docs"))
    question = bge_onnx.embed_queries([QUESTION])[0]
    hits = kb.query(QUESTION, k=3, mode="vector")
    stored = kb.collection.get(ids=[h.id for h in hits], include=["embeddings"])
    vectors = dict(zip(stored["ids"], stored["embeddings"]))
    for hit in hits:
        chunk = bge_onnx.embed_passages([embed_text("", hit.heading, hit.text)])[0]
        np.testing.assert_allclose(vectors[hit.id], chunk, atol=1e-4)
        assert hit.score == pytest.approx(float(question @ chunk), abs=1e-4)


def test_evidence_compares_the_question_as_query_with_sentences_as_passages(
    bge_onnx: OnnxEmbedder,
):
    from edgekit.kb.evidence import best_sentence
    from edgekit.kb.records import Hit

    calls: list[tuple[str, list[str]]] = []

    class Spy:
        def embed_queries(self, texts: list[str]) -> np.ndarray:
            calls.append(("query", texts))
            return bge_onnx.embed_queries(texts)

        def embed_passages(self, texts: list[str]) -> np.ndarray:
            calls.append(("passage", texts))
            return bge_onnx.embed_passages(texts)

    text = "Batteries are stored in a cool dry place. Extinguishers are checked every month."
    hit = Hit("id1", text, 1.0, {"source": "battery.md", "heading": "Storage", "page": -1})
    question = "Where are batteries stored?"
    evidence = best_sentence(question, [hit], Spy())
    assert evidence is not None and evidence.sentence.startswith("Batteries")
    assert calls == [("query", [question]), ("passage", text.replace(". ", ".\n").splitlines())]
