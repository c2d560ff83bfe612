import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tests.tiny_models import make_tiny_bert, make_tiny_mpnet, make_tiny_roberta, make_tiny_sentence_transformer  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A tiny random BERT (2 layers, hidden 32) with a local WordPiece tokenizer, on disk."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory):
    """A tiny random RoBERTa with a local byte-level BPE tokenizer, on disk."""
    return make_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def tiny_mpnet(tmp_path_factory):
    """A tiny random MPNet with a local WordPiece tokenizer (MPNetTokenizerFast), on disk."""
    return make_tiny_mpnet(tmp_path_factory.mktemp("tiny-mpnet"))


@pytest.fixture(scope="session")
def tiny_bert_no_dropout(tmp_path_factory):
    """A tiny BERT without dropout: runs on different process layouts compute the same thing."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-nodrop"), dropout=0.0)


@pytest.fixture(scope="session")
def tiny_bert_no_pooler(tmp_path_factory):
    """A tiny BERT saved without its pooler: loading it initialises the pooler afresh."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-nopool"), pooler=False)


@pytest.fixture(scope="session")
def tiny_sentence_bert(tmp_path_factory):
    """A tiny random BERT laid out as a sentence-transformers checkpoint: mean pooling, Normalize."""
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-sentence-bert"))
