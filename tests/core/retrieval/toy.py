"""A deterministic toy embedding: one dimension per topic, counted from topic words."""

from __future__ import annotations

import re

TOPICS = {
    "animals": {"cat", "cats", "dog", "dogs", "feline", "kitten", "puppy", "pet", "pets"},
    "space": {"star", "stars", "planet", "orbit", "rocket", "galaxy", "astronomy", "telescope"},
    "food": {"bread", "cheese", "recipe", "bake", "cooking", "soup", "kitchen"},
}


def toy_embed(texts: list[str]) -> list[list[float]]:
    """Topic-count vectors (plus a tiny constant so no vector is all zeros)."""
    vectors = []
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        vectors.append([sum(w in vocab for w in words) + 0.01 for vocab in TOPICS.values()])
    return vectors


DOCS = [
    {
        "doc_id": "d1",
        "content": "The cat sleeps on the warm kitchen floor.",
        "metadata": {"lang": "en", "year": 2020, "tags": ["pets", "home"]},
    },
    {
        "doc_id": "d2",
        "content": "A rocket carried the telescope into orbit around the planet.",
        "metadata": {"lang": "en", "year": 2021, "tags": ["space"]},
    },
    {
        "doc_id": "d3",
        "content": "Bake the bread, then melt cheese for the soup recipe.",
        "metadata": {"lang": "fr", "year": 2021, "tags": ["food"]},
    },
    {
        "doc_id": "d4",
        "content": "Dogs and cats are popular pets; a puppy needs training.",
        "metadata": {"lang": "en", "year": 2022, "tags": ["pets"]},
    },
    {
        "doc_id": "d5",
        "content": "Astronomy clubs watch stars and galaxy clusters at night.",
        "metadata": {"lang": "de", "year": 2022, "tags": ["space", "hobby"]},
    },
]
