import re
import unicodedata


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", separator, ascii_text.lower()).strip(separator)
