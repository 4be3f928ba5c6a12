"""The deterministic text-embedding "model" behind /v1/embeddings and /v1/rerank.

A text becomes a sparse bag of features (concepts from a small synonym table, else crude word
stems; plus character trigrams), and each feature contributes a fixed pseudo-random dense
direction derived from (model, feature). Every dimension is computed independently, so a
shorter vector is exactly the renormalised prefix of the full one (Matryoshka).
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import unicodedata
from array import array
from collections.abc import Sequence
from functools import lru_cache

#: Words that carry no meaning for similarity.
STOPWORDS = frozenset(
    """a an the is are was were be been being am of on in at to for by with and or it its this that
    these those what which who whom how do does did can could i you he she we they me my your our
    their very as from into then than so there here has have had will would shall may might just""".split()
)

#: Concept -> words (after accent folding and lower-casing) that evoke it. A word may evoke several
#: (a sliver of world knowledge: the Pacific is the largest ocean).
CONCEPTS: dict[str, str] = {
    "large": "big bigger biggest large larger largest huge vast enormous giant size sizes pacific",
    "ranking": "biggest largest sorted sort sorts ranked rank ranking",
    "ocean": "ocean oceans sea seas water waters marine pacific atlantic indian",
    "surface": "area areas surface surfaces km2 m2",
    "earth": "earth world globe planet",
    "cat": "cat cats kitten kittens feline",
    "sit": "sit sits sat sitting seated",
    "rug": "mat mats rug rugs carpet",
    "bread": "bread breads loaf loaves dough baguette",
    "bake": "bake bakes baked baking oven homemade knead",
}
_WORD_CONCEPTS: dict[str, tuple[str, ...]] = {}
for _concept, _words in CONCEPTS.items():
    for _word in _words.split():
        _WORD_CONCEPTS[_word] = (*_WORD_CONCEPTS.get(_word, ()), _concept)

#: Share of the vector's energy carried by word/concept features; character trigrams carry the rest.
WORD_WEIGHT = 0.9
_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("ly", ""), ("es", ""), ("s", ""))


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded alphanumeric words (``km²`` becomes ``km2``)."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.findall(r"[a-z0-9]+", folded)


def stem(word: str) -> str:
    """A crude suffix-stripping stem (first matching suffix, keeping at least three letters)."""
    if word.endswith("ss"):
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


def features(text: str) -> dict[str, float]:
    """The text's sparse feature vector: unit-norm word block and trigram block, weighted."""
    content = [w for w in words(text) if w not in STOPWORDS]
    terms: set[str] = set()
    for word in content:
        concepts = _WORD_CONCEPTS.get(word) or _WORD_CONCEPTS.get(stem(word))
        if concepts:
            terms.update(f"c:{concept}" for concept in concepts)
        else:
            terms.add(f"w:{stem(word)}")
    grams = {f"g:{padded[i:i + 3]}" for word in content for padded in [f"^{word}$"] for i in range(len(padded) - 2)}
    if not terms:  # only stopwords or no word at all: the text itself is the feature
        terms = {f"t:{' '.join(text.split()).lower()}"}
    out = {term: WORD_WEIGHT / math.sqrt(len(terms)) for term in terms}
    if grams:
        trigram_weight = math.sqrt(1 - WORD_WEIGHT**2) / math.sqrt(len(grams))
        out.update({gram: trigram_weight for gram in grams})
    return out


@lru_cache(maxsize=4096)
def _direction(model: str, feature: str, size: int) -> array:
    """A fixed pseudo-random direction (values in [-128, 127]) for ``feature`` under ``model``."""
    return array("b", hashlib.shake_256(f"{model}\0{feature}".encode()).digest(size))


def normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def embed(model: str, text: str, dimensions: int) -> list[float]:
    """The unit-norm embedding of ``text`` by ``model`` with ``dimensions`` components, float32-exact."""
    total = [0.0] * dimensions
    for feature, weight in sorted(features(text).items()):
        total = list(map(operator.add, total, map(weight.__mul__, _direction(model, feature, dimensions))))
    return array("f", normalise(total)).tolist()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = math.fsum(map(operator.mul, a, b))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(x * x for x in b))
    return dot / norms if norms else 0.0
