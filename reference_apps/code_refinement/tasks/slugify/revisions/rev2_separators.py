import re


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator)
