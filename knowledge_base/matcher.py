"""Which knowledge-base entries a customer's message asks about, with a calibrated confidence.

The model is a *discriminative common vector* classifier (null-space linear discriminant
analysis) over the n-gram features of :mod:`knowledge_base.features`, fitted in closed form
when the KB loads:

* every example question is a sparse vector (sublinear tf × class idf, L2-normalised); the
  examples of one entry form a class — per script, as Chinese and Latin-script examples share
  no features;
* the *within-class* differences, how the examples of one entry differ from their mean, are
  the ways of asking that say nothing about which entry is meant ("could you help me", "我想",
  typos, order numbers, swearing). The model removes their span (up to a small ridge ``λ``)
  and compares the message with each class mean by cosine in what is left. Words that tell
  entries apart ("cancel" vs "track", "退货" vs "换货") keep their weight because no entry's
  examples vary in them;
* by the Woodbury identity this is one Cholesky factorisation of the ``m × m`` Gram matrix of
  the difference vectors (``m ≤ MAX_BASIS``; very large KBs use a fixed sample of them, see
  :data:`BASIS_BUDGET`), so loading needs no iterative training.

On the Bitext benchmark this beats TF-IDF + LinearSVC trained on the same examples (numbers in
``bench/README.md``). RapidFuzz adds typo tolerance twice: an unknown word of the message is
read as the closest word of the KB ("ordr" → "order"), and the best few entries are re-ranked
with the fuzzy ratio to their closest example; for a Chinese message a discriminative vote
among those few entries, trained on their own examples when the message comes
(:meth:`Matcher._siblings`), orders them too. A logistic function of the best cosine, its
margin over the runner-up, the fuzzy ratio and, for Chinese, coverage, length, share margin and
the centroid cosine, for Latin script the best entry's share of the message's word pairs
(:data:`CALIBRATION`), per script, gives the confidence in [0, 1]; it
was fitted by ``python -m knowledge_base.calibration.fit`` on held-out folds of the Bitext KB
examples, Chinese and English dev paraphrases of the default KB and out-of-domain dev messages
(never on the benchmark's test set or the tests' sets).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from rapidfuzz import fuzz, process

from knowledge_base.features import (
    _HAN,
    _word_grams,
    features,
    normalize,
    normalize_many,
)

LAMBDA = 1e-4
"""Ridge on the within-class scatter, relative to its size (measured: 1e-5 … 1e-2)."""
MAX_BASIS = 1000
"""At most this many within-class difference vectors span the removed space (the cost of
scoring one message grows with its square: 1,000 keeps it under a millisecond)."""
BASIS_BUDGET = 4_000_000
"""classes × basis size: bounds the load time and memory (16 MB) of very large KBs."""
SHORTLIST = 256
"""Classes projected per message; all of them in a KB this small, else those closest before."""
SPELL_CUTOFF = 85.0
"""RapidFuzz ratio (0–100) from which an unknown word is read as a known one."""
SPELL_MIN_LEN = 4
SPELL_WORDS = 5000
"""Unknown words are compared with this many of the KB's most frequent words."""
FUZZ_TOP = 5
"""How many of the best entries are re-ranked with RapidFuzz."""
SIBLING_WEIGHT = 0.1
"""Chinese only: weight of the siblings' classifier (:meth:`Matcher._siblings`) added to the
fuzzy-ranked score to order the best :data:`FUZZ_TOP` entries. It only orders them: the
confidence's cosine, margin and the rest are the entries' own. Measured on the development data
(0.05 … 0.2; 0 for Latin script, where it cost Bitext and out-of-domain messages their bands):
``bench/README.md``."""
SIBLING_RIDGE = 0.5
"""Ridge of the siblings' classifier (measured: 0.1 … 2, about the same)."""
FUZZ_WEIGHT = 0.1
"""Weight of the fuzzy ratio (0–1) added to the cosine when re-ranking."""
CALIBRATION: dict[str, tuple[float, float, float, float, float, float, float, float, float]] = {
    "latin": (7.604, 9.464, 0.448, 0.0, 0.0, 0.0, -0.771, 0.0, -3.519),
    "han": (3.605, 3.227, 3.958, -0.218, 1.415, 3.952, 0.0, 5.991, -7.511),
}
"""Logistic weights of (cosine, margin, fuzzy ratio, coverage, length, share margin, pairs,
centroid cosine, intercept) for messages in Latin script and in Chinese, whose short questions
share fewer n-grams and so score lower cosines. Chinese only: coverage (:meth:`Matcher.coverage`)
tells a message about something the KB knows from the rest (its weight fell to about 0 once the
centroid cosine came); length (log of 1 + tokens: a longer Chinese message that still reaches one
entry is surer than two characters that do); share margin (:meth:`Matcher._shares`: how much more
of the message the best entry's examples contain than the runner-up's, which tells a right answer
from a close sibling's); the centroid cosine, the plain cosine of the message with the entry's
mean before the within-class span is projected out (the projection can make a message of mostly
filler close to an entry; the plain cosine says how much of it the entry's examples hold). For
Latin script the character n-grams already carry coverage; length, share margin and the centroid
cosine, measured, raised out-of-domain messages' confidence enough that the low band had to rise
and cost Bitext its abstentions (``bench/README.md``): their weights are 0. Pairs — the share of
the message's word pairs the best entry's own examples contain — is a Latin-script signal (0 for
Chinese, where it added little)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry the message may be about: ``score`` is the confidence in [0, 1], ``similarity``
    the model's cosine and ``fuzz`` RapidFuzz's ratio (0–1) to the entry's closest example."""

    entry_id: str
    score: float
    similarity: float
    fuzz: float = 0.0


class _Vocabulary(dict[str, int]):
    """Feature → column; an unseen feature gets the next one."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


class _Words(dict[str, int]):
    """Word → row of the word × feature matrix, whose row holds the word's n-grams
    (:func:`_word_grams`); each word's n-grams are computed once, however often it occurs."""

    def __init__(self, vocab: dict[str, int]) -> None:
        super().__init__()
        self.vocab = vocab
        self.names: list[str] = []
        self.grams: list[tuple[int, ...]] = []
        self.han_rows: set[int] = set()

    def __missing__(self, word: str) -> int:
        row = self[word] = len(self.names)
        if len(word) == 1 and _HAN.match(word):
            self.han_rows.add(row)
        self.names.append(word)
        self.grams.append(tuple(map(self.vocab.__getitem__, _word_grams(word))))
        return row

    def matrix(self) -> sp.csr_matrix:
        lengths = np.fromiter((len(g) for g in self.grams), dtype=np.int64, count=len(self.grams))
        return _rows(self.grams, lengths, len(self.vocab))


def _row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over each row of a CSR matrix given its ``indptr`` (0 for empty rows)."""
    sums = np.zeros(len(indptr) - 1)
    nonempty = np.flatnonzero(indptr[1:] > indptr[:-1])
    if len(nonempty):
        sums[nonempty] = np.add.reduceat(values, indptr[:-1][nonempty])
    return sums


def _rows(rows: list[tuple[int, ...]] | list[list[int]], lengths: np.ndarray, width: int) -> sp.csr_matrix:
    """A 0/1 CSR matrix whose row i has ones at the columns ``rows[i]`` (repeats summed)."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(indptr[-1]))
    matrix = sp.csr_matrix((np.ones(len(flat)), flat, indptr), shape=(len(lengths), width))
    matrix.sum_duplicates()
    return matrix


class Matcher:
    """An immutable model of a set of example questions; build a new one when they change."""

    def __init__(self, examples: Iterable[tuple[str, str]]) -> None:
        """``examples`` are ``(entry_id, question)`` pairs in any of kefu's languages."""
        self._vocab: dict[str, int] = _Vocabulary()
        self._words = words = _Words(self._vocab)
        self._compact_texts: dict[str, list[str]] = {}
        self._spell: dict[int, list[str]] = {}
        self._pools: dict[int, list[str]] = {}
        pairs = examples if isinstance(examples, list) else list(examples)
        norms = normalize_many([q for _, q in pairs])
        # each distinct (entry, normalised question) once, in order; empty ones say nothing
        kept_pairs = [pair for pair in dict.fromkeys(zip([e for e, _ in pairs], norms, strict=True)) if pair[1]]
        self._kept = kept = [norm for _, norm in kept_pairs]
        han_search = _HAN.search
        # a class is an entry's Chinese or Latin-script examples, numbered as first seen
        classes: dict[tuple[str, bool], int] = {}
        labels = [
            classes.setdefault((entry_id, han_search(norm) is not None), len(classes))
            for entry_id, norm in kept_pairs
        ]
        class_entry = [entry_id for entry_id, _ in classes]
        self._n_classes = len(class_entry)
        # word rows of all questions, one after the other (a normalised text is single-spaced)
        flat = " ".join(kept).split()
        tokens = np.fromiter(map(words.__getitem__, flat), dtype=np.int64, count=len(flat))
        lengths = np.fromiter((norm.count(" ") + 1 for norm in kept), dtype=np.int64, count=len(kept))
        # an entry has at most two classes (Chinese, Latin script): score both, keep the better
        first: dict[str, int] = {}
        second: dict[str, int] = {}
        for cls, entry_id in enumerate(class_entry):
            (second if entry_id in first else first)[entry_id] = cls
        self._entry_ids = list(first)
        self._entry_index = {e: i for i, e in enumerate(self._entry_ids)}
        self._class_a = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        self._class_b = np.fromiter((second.get(e, c) for e, c in first.items()), dtype=np.int64, count=len(first))
        self._empty = not labels
        label_array = np.array(labels, dtype=np.int64)
        self._class_rows = np.argsort(label_array, kind="stable")
        self._class_start = np.zeros(len(class_entry) + 1, dtype=np.int64)
        np.cumsum(np.bincount(label_array, minlength=len(class_entry)), out=self._class_start[1:])
        if not self._empty:
            counts = self._counts(tokens, lengths)
            self._fit(counts, label_array, len(class_entry))

    def _counts(self, tokens: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
        """Example × feature counts: exactly what :func:`features` counts, but assembled with
        array operations — (example × word) @ (word × n-gram) plus the token bigrams, found with
        ``np.unique`` — instead of per-feature Python, which keeps loading 10,000 entries fast."""
        n_rows, n_words = len(lengths), len(self._words.names)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        per_word = sp.csr_matrix((np.ones(len(tokens)), tokens, indptr), shape=(n_rows, n_words))
        # bigrams: consecutive tokens within one question
        inside = np.ones(len(tokens), dtype=bool)
        inside[indptr[1:] - 1] = False  # a question's last token starts no bigram
        starts = np.flatnonzero(inside[:-1])
        keys = tokens[starts] * n_words + tokens[starts + 1]
        unique, inverse = np.unique(keys, return_inverse=True)
        names, vocab = self._words.names, self._vocab
        columns = np.fromiter(
            map(vocab.__getitem__, ["b:" + names[k // n_words] + " " + names[k % n_words] for k in unique.tolist()]),
            dtype=np.int64,
            count=len(unique),
        )
        width = len(vocab)
        question_of = np.repeat(np.arange(n_rows), lengths)[starts]
        bigrams = sp.csr_matrix((np.ones(len(starts)), (question_of, columns[inverse])), shape=(n_rows, width))
        word_matrix = self._words.matrix()
        word_matrix.resize((n_words, width))
        return (per_word @ word_matrix + bigrams).tocsr()

    def _fit(self, a: sp.csr_matrix, labels: np.ndarray, n_classes: int) -> None:
        n_rows = a.shape[0]
        self._spell = self._spelling_index(np.bincount(a.indices, minlength=a.shape[1]))
        a.data = 1.0 + np.log(a.data)
        members = sp.csr_matrix((np.ones(n_rows), (labels, np.arange(n_rows))), shape=(n_classes, n_rows))
        # idf over classes: a feature found in many entries (a filler word) says little about any
        class_df = np.bincount((members @ a).indices, minlength=a.shape[1])
        self._idf = np.log((1.0 + n_classes) / (1.0 + class_df)) + 1.0
        self._idf_unknown = math.log(1.0 + n_classes) + 1.0
        a.data *= self._idf[a.indices]
        a.data /= np.repeat(np.sqrt(_row_sums(a.data * a.data, a.indptr)), np.diff(a.indptr))  # rows: unit length
        # the siblings' classifier's training rows (_siblings), in single precision: kept for the
        # KB's life (10,000 entries: about 33 MB, against 50 MB in double)
        self._examples = sp.csr_matrix((a.data.astype(np.float32), a.indices, a.indptr), shape=a.shape)
        counts = np.bincount(labels, minlength=n_classes)
        means = (sp.diags(1.0 / counts) @ members @ a).tocsr()
        self._means_t = means.T.tocsr()
        # which features each class's examples contain (where its mean is non-zero), sorted: _shares
        means.sort_indices()
        self._class_indptr, self._class_features = means.indptr, means.indices
        mean_sq = _row_sums(means.data * means.data, means.indptr)
        self._mean_norm = np.sqrt(np.maximum(mean_sq, 1e-24))
        multi = np.flatnonzero(counts[labels] > 1)  # a single example differs from nothing
        cap = min(MAX_BASIS, max(64, BASIS_BUDGET // n_classes))
        if len(multi) > cap:
            multi = np.sort(np.random.default_rng(0).choice(multi, cap, replace=False))
        self._linv: np.ndarray | None = None
        if len(multi):
            diffs = (a[multi] - means[labels[multi]]).tocsr()
            m = diffs.shape[0]
            gram = (diffs @ diffs.T).toarray() + LAMBDA * m * np.eye(m)
            chol = scipy.linalg.cholesky(gram, lower=True)
            self._linv = scipy.linalg.solve_triangular(chol, np.eye(m), lower=True)
            self._diffs_t = diffs.T.tocsr()
            k = scipy.linalg.solve_triangular(chol, (diffs @ self._means_t).toarray(), lower=True)
            self._k = np.ascontiguousarray(k.T, dtype=np.float32)  # classes × m
            mean_sq = mean_sq - np.einsum("ij,ij->i", self._k, self._k, dtype=np.float64)
        self._proj_sq = np.maximum(mean_sq, 1e-12)

    def _spelling_index(self, df: np.ndarray) -> dict[int, list[str]]:
        """The :data:`SPELL_WORDS` non-Chinese words in most questions, by length."""
        words = [
            (int(df[self._words.grams[row][0]]), w)
            for w, row in self._words.items()
            if len(w) >= SPELL_MIN_LEN - 1 and row not in self._words.han_rows
        ]
        words.sort(key=lambda p: -p[0])
        index: dict[int, list[str]] = {}
        for _, word in words[:SPELL_WORDS]:
            index.setdefault(len(word), []).append(word)
        return index

    # -- matching ---------------------------------------------------------------------------

    @property
    def entry_ids(self) -> list[str]:
        return list(self._entry_ids)

    def correct(self, norm: str) -> str:
        """Read each unknown word of a normalised text as the closest word of the KB, if close."""
        if not SPELL_CUTOFF:
            return norm
        out = []
        for tok in norm.split():
            # digits are codes, not misspellings; Han characters are not spelled
            if len(tok) >= SPELL_MIN_LEN and tok not in self._words and "0" not in tok and not _HAN.match(tok):
                pool = self._spelling_pool(len(tok))
                hit = process.extractOne(tok, pool, scorer=fuzz.ratio, score_cutoff=SPELL_CUTOFF)
                if hit is not None:
                    tok = hit[0]
            out.append(tok)
        return " ".join(out)

    def _spelling_pool(self, length: int) -> list[str]:
        """The known words long enough and short enough to be within the cutoff of ``length``."""
        pool = self._pools.get(length)
        if pool is None:
            lo, hi = _length_window(length)
            pool = self._pools[length] = [w for n in range(lo, hi + 1) for w in self._spell.get(n, ())]
        return pool

    def similarities(self, text: str) -> np.ndarray:
        """The model's cosine of ``text`` with every entry, in the order of :attr:`entry_ids`.

        In a KB of more than :data:`SHORTLIST` classes only the shortlist closest before the
        projection is projected; the others score 0.
        """
        return self._similarities(self.correct(normalize(text)))[0]

    def _similarities(self, norm: str, feats: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The model's cosine with every entry and, per class, the plain cosine with its mean
        (before the within-class span is projected out): :meth:`_centroid`."""
        if feats is None:
            feats = features(norm) if not self._empty else {}
        known = [(self._vocab[f], v) for f, v in feats.items() if f in self._vocab]
        if not known:
            return np.zeros(len(self._entry_ids)), np.zeros(self._n_classes)
        idx = np.array([i for i, _ in known], dtype=np.int64)
        raw = np.array([v for _, v in known])
        unknown_sq = (sum(v * v for v in feats.values()) - float(raw @ raw)) * self._idf_unknown**2
        val = raw * self._idf[idx]
        val /= math.sqrt(float(val @ val) + unknown_sq)
        dots = _weighted_rows(self._means_t, idx, val)
        centroid = dots / self._mean_norm
        if self._linv is None:
            cos = dots / np.sqrt(self._proj_sq)
        else:
            y = self._linv @ _weighted_rows(self._diffs_t, idx, val)
            q_sq = max(1.0 - float(y @ y), 1e-12)
            if len(dots) > SHORTLIST:
                short = np.argpartition(-centroid, SHORTLIST)[:SHORTLIST]
                cos = np.zeros(len(dots))
                cos[short] = (dots[short] - self._k[short] @ y) / np.sqrt(self._proj_sq[short] * q_sq)
            else:
                cos = (dots - self._k @ y) / np.sqrt(self._proj_sq * q_sq)
        return np.maximum(cos[self._class_a], cos[self._class_b]), centroid

    def match(self, text: str, limit: int = 3) -> list[Candidate]:
        """The best ``limit`` entries for ``text``, most likely first (empty for an empty KB)."""
        ranked, known, han, length, per_entry = self._ranked(text, limit)
        if not ranked:
            return []
        out = []
        for rank, (combined, sim, ratio, entry_id) in enumerate(ranked[:limit]):
            # the runner-up's margins are negative: it is behind the best by that much
            other = ranked[1 if rank == 0 else 0] if len(ranked) > 1 else None
            margin = combined - other[0] if other is not None else combined
            share, pairs, centroid = per_entry[entry_id]
            share_margin = share - (per_entry[other[3]][0] if other is not None else 0.0)
            score = confidence(sim, margin, ratio, known, length, share_margin, pairs, centroid, han)
            out.append(Candidate(entry_id, score, sim, ratio))
        return out

    def _ranked(
        self, text: str, limit: int
    ) -> tuple[list[tuple[float, float, float, str]], float, bool, float, dict[str, tuple[float, float, float]]]:
        """The best entries as (cosine + fuzzy bonus, cosine, fuzzy ratio, entry id), best first,
        with what else the confidence is made of: the message's coverage, whether it is Chinese,
        its length (log of 1 + its tokens) and, for the best ``max(limit, 2)`` entries, the share
        of the message and of its word pairs the entry's examples contain (:meth:`_shares`) and
        the plain cosine with the entry's mean, before the projection (its centroid cosine)."""
        if not self._entry_ids:
            return [], 0.0, False, 0.0, {}
        norm = self.correct(normalize(text))
        feats = features(norm) if not self._empty else {}
        sims, centroid = self._similarities(norm, feats)
        compact = _compact(norm)
        k = min(max(FUZZ_TOP, limit), len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        ranked: list[tuple[float, float, float, str]] = []
        for i in top:
            entry_id = self._entry_ids[i]
            best_question = process.extractOne(compact, self._fuzz_texts(entry_id), scorer=fuzz.ratio) if norm else None
            ratio = best_question[1] / 100.0 if best_question is not None else 0.0
            ranked.append((float(sims[i]) + FUZZ_WEIGHT * ratio, float(sims[i]), ratio, entry_id))
        order = {r[3]: r[0] for r in ranked}
        if SIBLING_WEIGHT and len(ranked) > 1 and _HAN.search(norm):
            votes = self._siblings(feats, list(order))
            order = {e: score + SIBLING_WEIGHT * float(v) for (e, score), v in zip(order.items(), votes, strict=True)}
        ranked.sort(key=lambda r: (-order[r[3]], r[3]))
        length = math.log1p(norm.count(" ") + 1) if norm else 0.0
        best = [r[3] for r in ranked[: max(limit, 2)]]
        per_entry = {
            entry_id: (share, pairs, self._centroid(centroid, entry_id))
            for entry_id, (share, pairs) in self._shares(feats, best).items()
        }
        return ranked, self.coverage(feats), _HAN.search(norm) is not None, length, per_entry

    def _centroid(self, centroid: np.ndarray, entry_id: str) -> float:
        i = self._entry_index[entry_id]
        return float(max(centroid[self._class_a[i]], centroid[self._class_b[i]]))

    def _shares(self, feats: dict[str, float], entry_ids: list[str]) -> dict[str, tuple[float, float]]:
        """For each entry, the share of the message (its features, weighted as the model weighs
        them: tf × idf) that the entry's own examples contain — the best entry explaining much
        more of the message than the runner-up tells a right answer from a sibling's — and the
        share of the message's token bigrams (its words, when it has one token) they contain."""
        known = [(self._vocab[f], v, f) for f, v in feats.items() if f in self._vocab]
        unknown = sum(v for f, v in feats.items() if f not in self._vocab) * self._idf_unknown
        if not known:
            return dict.fromkeys(entry_ids, (0.0, 0.0))
        prefix = "b:" if any(f.startswith("b:") for f in feats) else "w:"
        n_pairs = sum(f.startswith(prefix) for f in feats)
        pairs = np.array([f.startswith(prefix) for _, _, f in known])
        idx = np.array([col for col, _, _ in known], dtype=np.int64)
        weights = np.array([v for _, v, _ in known]) * self._idf[idx]
        total = float(weights.sum()) + unknown
        ptr, columns = self._class_indptr, self._class_features
        out = {}
        for entry_id in entry_ids:
            i = self._entry_index[entry_id]
            classes = {int(self._class_a[i]), int(self._class_b[i])}
            contained = np.zeros(len(idx), dtype=bool)
            for cls in classes:
                own = columns[ptr[cls] : ptr[cls + 1]]
                if len(own):
                    contained |= own[np.minimum(np.searchsorted(own, idx), len(own) - 1)] == idx
            out[entry_id] = float(weights[contained].sum()) / total, float((contained & pairs).sum()) / max(n_pairs, 1)
        return out

    def _siblings(self, feats: dict[str, float], entry_ids: list[str]) -> np.ndarray:
        """A discriminative vote among a few close entries: a one-vs-rest ridge classifier
        trained, for this message, on those entries' own examples only (what TF-IDF + a linear
        SVM does for the whole KB, and why it tells 修改交易密码 from 忘记交易密码 well), in its
        dual form — a linear kernel with a constant for the intercept over their 10–100 example
        rows, one small solve — so that loading a KB trains nothing. Returns each entry's
        decision value (about +1: the message is like this entry's examples and unlike the
        others', about -1: the reverse), in the order of ``entry_ids``."""
        known = [(self._vocab[f], v) for f, v in feats.items() if f in self._vocab]
        if not known:
            return np.zeros(len(entry_ids))
        idx = np.array([col for col, _ in known], dtype=np.int64)
        raw = np.array([v for _, v in known])
        val = raw * self._idf[idx]
        unknown_sq = (sum(v * v for v in feats.values()) - float(raw @ raw)) * self._idf_unknown**2
        val /= math.sqrt(float(val @ val) + unknown_sq)  # the message as _similarities weighs it
        row_lists = [self._entry_rows(e) for e in entry_ids]
        rows = np.fromiter(itertools.chain.from_iterable(row_lists), dtype=np.int64)
        # the rows as a dense matrix over the features they use: scipy's slicing and sparse
        # products cost more than the arithmetic at this size
        ptr, starts = self._examples.indptr, self._examples.indptr[rows]
        counts = ptr[rows + 1] - starts
        places = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
        columns, place_column = np.unique(self._examples.indices[places], return_inverse=True)
        examples = np.zeros((len(rows), len(columns)))  # double precision for the solve
        examples[np.repeat(np.arange(len(rows)), counts), place_column] = self._examples.data[places]
        message = np.zeros(len(columns))
        at = np.minimum(np.searchsorted(columns, idx), len(columns) - 1)
        message[at[columns[at] == idx]] = val[columns[at] == idx]
        kernel = examples @ examples.T + 1.0 + SIBLING_RIDGE * np.eye(len(rows))
        targets = np.full((len(rows), len(entry_ids)), -1.0)
        targets[np.arange(len(rows)), np.repeat(np.arange(len(entry_ids)), [len(r) for r in row_lists])] = 1.0
        dual = scipy.linalg.solve(kernel, targets, assume_a="pos")
        return (examples @ message + 1.0) @ dual

    def _entry_rows(self, entry_id: str) -> list[int]:
        """The rows (kept normalised questions) of the entry's examples, in both scripts."""
        i = self._entry_index[entry_id]
        return sorted(
            {
                int(r)
                for cls in {int(self._class_a[i]), int(self._class_b[i])}
                for r in self._class_rows[self._class_start[cls] : self._class_start[cls + 1]]
            }
        )

    def coverage(self, feats: dict[str, float]) -> float:
        """The share of a message's token bigrams (its words, when it has one token) that the
        KB's examples contain: a message about something the KB knows shares its word pairs
        ("交易 密码"), one about something else shares at most its filler ("怎么 办")."""
        pairs = [f for f in feats if f.startswith("b:")]
        if not pairs:
            pairs = [f for f in feats if f.startswith("w:")]
        return sum(f in self._vocab for f in pairs) / len(pairs) if pairs else 0.0

    def _fuzz_texts(self, entry_id: str) -> list[str]:
        """The entry's normalised questions as RapidFuzz compares them (:func:`_compact`),
        made when the entry is first a candidate rather than for every entry at load."""
        texts = self._compact_texts.get(entry_id)
        if texts is None:
            texts = self._compact_texts[entry_id] = [_compact(self._kept[r]) for r in self._entry_rows(entry_id)]
        return texts

    def signals(self, text: str) -> tuple[str, tuple[float, ...], bool] | None:
        """(best entry, the inputs of its confidence, is Chinese), for fitting
        :data:`CALIBRATION`: cosine, margin, fuzzy ratio, coverage, length, share margin, pairs,
        centroid cosine."""
        ranked, known, han, length, per_entry = self._ranked(text, 2)
        if not ranked:
            return None
        combined, sim, ratio, entry_id = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        margin = combined - (second[0] if second is not None else 0.0)
        share, pairs, centroid = per_entry[entry_id]
        share_margin = share - (per_entry[second[3]][0] if second is not None else 0.0)
        return entry_id, (sim, margin, ratio, known, length, share_margin, pairs, centroid), han

_HAN_GAP = re.compile(f"(?<={_HAN.pattern}) (?={_HAN.pattern})")


def _compact(norm: str) -> str:
    """A normalised text without the spaces between Han characters, for RapidFuzz: spaces
    would match spaces and make any two Chinese sentences look half alike."""
    return _HAN_GAP.sub("", norm)


def _length_window(n: int) -> tuple[int, int]:
    """Word lengths that can reach :data:`SPELL_CUTOFF` with a word of length ``n``.

    RapidFuzz's ratio is ``1 - distance / (n + m)`` and the distance is at least ``|n - m|``.
    """
    c = 1.0 - SPELL_CUTOFF / 100.0
    return math.ceil(n * (1 - c) / (1 + c)), math.floor(n * (1 + c) / (1 - c))


def confidence(
    similarity: float,
    margin: float,
    ratio: float,
    coverage: float,
    length: float,
    share_margin: float,
    pairs: float,
    centroid: float,
    han: bool,
) -> float:
    a, b, c, d, e, f, g, h, bias = CALIBRATION["han" if han else "latin"]
    z = a * similarity + b * margin + c * ratio + d * coverage + e * length + f * share_margin + g * pairs
    z += h * centroid + bias
    return 1.0 / (1.0 + math.exp(-z))


def _weighted_rows(m: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``m[rows].T @ weights``, the weighted sum of a few rows, without scipy's slicing: for the
    handful of features of one message, building the slice costs more than the sum."""
    starts = m.indptr[rows]
    counts = m.indptr[rows + 1] - starts
    ends = np.cumsum(counts)
    if not len(ends) or ends[-1] == 0:
        return np.zeros(m.shape[1])
    # each stored value's place: its row's start plus its place within the row
    places = np.arange(ends[-1]) + np.repeat(starts - (ends - counts), counts)
    return np.bincount(m.indices[places], weights=m.data[places] * np.repeat(weights, counts), minlength=m.shape[1])
