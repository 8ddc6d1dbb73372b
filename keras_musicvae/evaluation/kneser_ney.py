"""N-gram language model with interpolated Kneser-Ney smoothing (paper Sec. 5.4).

The bottom panel of Fig. 3 scores interpolated melodies with "an independently
trained 5-gram language model" built with KenLM (Heafield, 2011), whose
default estimator is interpolated *modified* Kneser-Ney (Chen & Goodman, 1998).
This module is a small pure-Python/NumPy equivalent for token sequences:

* Each sequence is padded as `<s> x_1 ... x_T </s>`; `<s>` is only ever a
  context, `</s>` is predicted like a token.
* The highest order uses raw counts; every lower order uses continuation
  counts (the number of distinct tokens seen immediately to the left), except
  n-grams that begin with `<s>`, which keep raw counts since nothing can
  precede `<s>` (as KenLM does).
* Interpolation:
  `p(w | h) = max(c(h w) - D(c(h w)), 0) / c(h .) + gamma(h) * p(w | h')`,
  `gamma(h) = sum_j D_j * N_j(h .) / c(h .)`, where `h'` drops the oldest
  token of `h`, `N_j(h .)` counts the tokens whose (adjusted) count after `h`
  falls in discount bucket j, and the unigram level is interpolated with the
  uniform distribution over the vocabulary plus `</s>`. A context never seen
  backs off fully to `p(w | h')`.
* Discounts per order: by default Chen & Goodman's modified estimates from the
  count-of-counts `n_1..n_4` of the adjusted counts,
  `Y = n1 / (n1 + 2 n2)`, `D1 = 1 - 2Y n2/n1`, `D2 = 2 - 3Y n3/n2`,
  `D3+ = 3 - 4Y n4/n3`; when those are undefined or out of range (tiny
  corpora), the single Ney discount `D = n1 / (n1 + 2 n2)` (0.5 if `n1 = 0`).
  A fixed `discount` gives classic interpolated Kneser-Ney with one discount
  for every order.

Every conditional distribution sums to one over the vocabulary plus `</s>`.
"""

import collections
import math

import numpy as np

_BOS = -1  # internal id of the sequence-start padding symbol <s>
_EOS = -2  # internal id of the end-of-sequence symbol </s>


def _estimate_discounts(adjusted_counts):
    """(D1, D2, D3+) for one order from the adjusted counts of its n-grams."""
    count_of_counts = collections.Counter(
        count for count in adjusted_counts if count <= 4
    )
    n1, n2, n3, n4 = (count_of_counts[j] for j in (1, 2, 3, 4))
    if n1 > 0 and n2 > 0 and n3 > 0 and n4 > 0:
        y = n1 / (n1 + 2.0 * n2)
        d1 = 1.0 - 2.0 * y * n2 / n1
        d2 = 2.0 - 3.0 * y * n3 / n2
        d3 = 3.0 - 4.0 * y * n4 / n3
        if 0.0 < d1 <= 1.0 and 0.0 < d2 <= 2.0 and 0.0 < d3 <= 3.0:
            return (d1, d2, d3)
    single = n1 / (n1 + 2.0 * n2) if n1 > 0 else 0.5
    return (single, single, single)


class KneserNeyLanguageModel:
    """Interpolated (modified) Kneser-Ney n-gram model over integer tokens.

    Example:
        >>> lm = KneserNeyLanguageModel(order=5, vocab_size=90).fit(melodies)
        >>> lm.cost(melody)            # -log p(melody, </s>) in nats
        >>> lm.per_token_cost(melody)  # cost / (len(melody) + 1)

    Args:
        order: int >= 1, the n-gram order (5 in the paper).
        vocab_size: int, tokens are `0 .. vocab_size - 1` (90 for melodies).
            `None` infers `max(token) + 1` from the training sequences.
            Tokens of the vocabulary never seen in training keep a non-zero
            probability through the uniform floor.
        discount: `None` for the estimated modified Kneser-Ney discounts
            (KenLM's default), or a float in (0, 1] used as the single
            discount of every order.
    """

    def __init__(self, order=5, vocab_size=None, discount=None):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}.")
        if vocab_size is not None and (
            isinstance(vocab_size, bool)
            or not isinstance(vocab_size, (int, np.integer))
            or vocab_size < 1
        ):
            raise ValueError(f"vocab_size must be a positive integer or None, got {vocab_size!r}.")
        if discount is not None and not 0.0 < float(discount) <= 1.0:
            raise ValueError(f"discount must lie in (0, 1], got {discount!r}.")
        self.order = int(order)
        self.vocab_size = None if vocab_size is None else int(vocab_size)
        self.fixed_discount = None if discount is None else float(discount)
        self.discounts = None  # {order k: (D1, D2, D3+)} after fit
        self._counts = None  # {k: {k-gram tuple: adjusted count}}
        self._context_stats = None  # {k: {history tuple: (total, N1, N2, N3+)}}

    # ------------------------------------------------------------------ fit
    @staticmethod
    def _as_sequences(sequences, lengths):
        if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
            rows = list(sequences)
        elif (
            isinstance(sequences, np.ndarray)
            and sequences.ndim == 1
            and sequences.dtype != object
        ):
            raise ValueError(
                "expected a batch of sequences ([N, T] array or a list of 1-D arrays), "
                "got a single 1-D array; wrap it in a list."
            )
        else:
            rows = [np.asarray(row) for row in sequences]
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (len(rows),):
                raise ValueError(
                    f"lengths must have shape ({len(rows)},), got {lengths.shape}."
                )
            rows = [row[: int(length)] for row, length in zip(rows, lengths)]
        return rows

    def _check_tokens(self, tokens, what):
        tokens = np.asarray(tokens)
        if tokens.ndim != 1:
            raise ValueError(f"{what} must be a 1-D token sequence, got shape {tokens.shape}.")
        if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
            if not np.all(np.equal(np.mod(tokens, 1), 0)):
                raise ValueError(f"{what} must hold integer tokens, got dtype {tokens.dtype}.")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(
                f"{what} holds tokens outside the vocabulary 0..{self.vocab_size - 1}: "
                f"min {tokens.min()}, max {tokens.max()}."
            )
        return tuple(int(token) for token in tokens)

    def fit(self, sequences, lengths=None):
        """Counts n-grams and estimates discounts.

        Args:
            sequences: int array `[N, T]` or a list of 1-D int arrays (lengths
                may differ).
            lengths: optional int array `[N]`; only the first `lengths[i]`
                tokens of sequence i are used.

        Returns:
            self.
        """
        rows = self._as_sequences(sequences, lengths)
        if not rows:
            raise ValueError("cannot fit a language model on zero sequences.")
        if self.vocab_size is None:
            maxima = [int(np.max(row)) for row in rows if np.size(row)]
            if not maxima:
                raise ValueError("cannot infer vocab_size: every training sequence is empty.")
            self.vocab_size = max(maxima) + 1
        raw = {k: collections.Counter() for k in range(1, self.order + 1)}
        for index, row in enumerate(rows):
            padded = (_BOS,) + self._check_tokens(row, f"training sequence {index}") + (_EOS,)
            for k in range(1, self.order + 1):
                counter = raw[k]
                # k-grams ending at each predicted position i >= 1.
                for i in range(max(1, k - 1), len(padded)):
                    counter[padded[i - k + 1 : i + 1]] += 1

        counts = {self.order: dict(raw[self.order])}
        for k in range(1, self.order):
            left_extensions = collections.Counter(gram[1:] for gram in raw[k + 1])
            counts[k] = {
                gram: (count if gram[0] == _BOS else left_extensions[gram])
                for gram, count in raw[k].items()
            }

        discounts = {}
        context_stats = {}
        for k, table in counts.items():
            if self.fixed_discount is not None:
                discounts[k] = (self.fixed_discount,) * 3
            else:
                discounts[k] = _estimate_discounts(table.values())
            stats = collections.defaultdict(lambda: [0, 0, 0, 0])
            for gram, count in table.items():
                entry = stats[gram[:-1]]
                entry[0] += count
                entry[min(count, 3)] += 1
            context_stats[k] = {history: tuple(entry) for history, entry in stats.items()}
        self._counts = counts
        self._context_stats = context_stats
        self.discounts = discounts
        return self

    # -------------------------------------------------------------- scoring
    def _require_fitted(self):
        if self._counts is None:
            raise RuntimeError("the language model is not fitted yet; call fit() first.")

    def _probability(self, word, history):
        """p(word | history) with internal ids; history has <= order-1 ids."""
        probability = 1.0 / (self.vocab_size + 1)  # uniform over vocab + </s>
        num_history = len(history)
        for k in range(1, num_history + 2):
            context = history[num_history - (k - 1) :]
            stats = self._context_stats[k].get(context)
            if stats is None:  # unseen context: back off fully
                continue
            total, n1, n2, n3 = stats
            d1, d2, d3 = self.discounts[k]
            count = self._counts[k].get(context + (word,), 0)
            if count == 0:
                discounted = 0.0
            else:
                discounted = count - (d1 if count == 1 else d2 if count == 2 else d3)
            gamma = (d1 * n1 + d2 * n2 + d3 * n3) / total
            probability = discounted / total + gamma * probability
        return probability

    def _history(self, context, sentence_start):
        self._require_fitted()
        ids = self._check_tokens(np.asarray(context, dtype=np.int64).reshape(-1), "context")
        if sentence_start:
            ids = (_BOS,) + ids
        if self.order == 1:
            return ()
        return ids[-(self.order - 1) :]

    def _word_id(self, token):
        token = int(token)
        if token == self.vocab_size:
            return _EOS
        if not 0 <= token < self.vocab_size:
            raise ValueError(
                f"token {token} is outside 0..{self.vocab_size} (vocab_size = end of sequence)."
            )
        return token

    def prob(self, token, context=(), sentence_start=False):
        """Conditional probability of one token.

        Args:
            token: int in `0 .. vocab_size`; `vocab_size` stands for `</s>`.
            context: 1-D int sequence of preceding tokens (only the last
                `order - 1` are used).
            sentence_start: if True, `<s>` precedes the context (the context is
                the beginning of a sequence).

        Returns:
            Python float in (0, 1].
        """
        return self._probability(self._word_id(token), self._history(context, sentence_start))

    def distribution(self, context=(), sentence_start=False):
        """Next-token distribution after `context`.

        Returns:
            float64 array of shape `[vocab_size + 1]`; the last entry is `</s>`.
            It sums to 1.
        """
        history = self._history(context, sentence_start)
        words = list(range(self.vocab_size)) + [_EOS]
        return np.array([self._probability(word, history) for word in words])

    def log_prob(self, sequence, include_end=True):
        """Natural-log probability of a whole sequence, starting after `<s>`.

        Args:
            sequence: 1-D int array `[T]` of tokens in `0 .. vocab_size - 1`.
            include_end: also score `</s>` after the last token (as KenLM does
                for a full sentence).

        Returns:
            Python float (<= 0).
        """
        self._require_fitted()
        padded = (_BOS,) + self._check_tokens(sequence, "sequence")
        if include_end:
            padded = padded + (_EOS,)
        total = 0.0
        for i in range(1, len(padded)):
            history = padded[max(0, i - self.order + 1) : i]
            total += math.log(self._probability(padded[i], history))
        return total

    def cost(self, sequence, include_end=True):
        """Language-model cost `-log p(sequence)` in nats (Sec. 5.4's C)."""
        return -self.log_prob(sequence, include_end=include_end)

    def per_token_cost(self, sequence, include_end=True):
        """Cost divided by the number of predicted tokens (`T + 1` with `</s>`)."""
        num_predicted = len(np.asarray(sequence).reshape(-1)) + (1 if include_end else 0)
        if num_predicted == 0:
            raise ValueError("cannot compute a per-token cost of an empty sequence without </s>.")
        return self.cost(sequence, include_end=include_end) / num_predicted

    def costs(self, sequences, lengths=None, per_token=False, include_end=True):
        """Costs of a batch of sequences.

        Args:
            sequences: int array `[N, T]` or list of 1-D arrays.
            lengths: optional int array `[N]`.
            per_token: divide each cost by its number of predicted tokens.
            include_end: score `</s>` too.

        Returns:
            float64 array of shape `[N]`.
        """
        rows = self._as_sequences(sequences, lengths)
        score = self.per_token_cost if per_token else self.cost
        return np.array([score(row, include_end=include_end) for row in rows], dtype=np.float64)
