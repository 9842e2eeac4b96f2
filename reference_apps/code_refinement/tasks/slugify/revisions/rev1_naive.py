def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    return text.lower().replace(" ", separator)
