import re
import unicodedata


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", separator, ascii_text.lower()).strip(separator)
    if max_length is None or len(slug) <= max_length:
        return slug
    cut = slug[: max_length + 1]
    # Cut at the last separator that fits; a single over-long word is cut hard.
    boundary = cut.rfind(separator)
    return (cut[:boundary] if boundary > 0 else slug[:max_length]).strip(separator)
