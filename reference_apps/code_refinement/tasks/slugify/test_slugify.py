"""The unit tests the critic runs against each candidate `slugify`."""

from slugify import slugify


def test_lowercases_words() -> None:
    assert slugify("Hello World") == "hello-world"


def test_strips_punctuation() -> None:
    assert slugify("Hello, World!") == "hello-world"


def test_collapses_separators() -> None:
    assert slugify("a  --  b") == "a-b"


def test_trims_separators() -> None:
    assert slugify("  -Hello-  ") == "hello"


def test_transliterates_accents() -> None:
    assert slugify("Crème Brûlée") == "creme-brulee"


def test_custom_separator() -> None:
    assert slugify("Hello World", separator="_") == "hello_world"


def test_truncates_at_word_boundary() -> None:
    assert slugify("The quick brown fox", max_length=12) == "the-quick"


def test_only_punctuation() -> None:
    assert slugify("") == ""
    assert slugify("!!!") == ""
