"""Digit patterns as automata: does a prefix already decide whether a number matches?

libphonenumber validates a national number by full-matching it against the regular
expressions of its country's metadata (general, fixed line, mobile, toll free…). Most of
them read the first few digits and then accept any digits — ``212[2-9]\\d{6}`` — so every
ten-digit number starting ``2125`` gets the same answer from every pattern.

:func:`compile_digits` turns such a pattern into a nondeterministic automaton over the ten
ASCII digits (the only characters a normalised national number contains), and
:meth:`DigitAutomaton.decide` answers, for the state reached after a prefix and the number
of digits still to come, whether *every* completion matches, *none* does, or it depends.
This is an exact computation over the pattern's language, not a sample: it is what lets
:class:`dialer.domain.numbering.PhoneNormaliser` reuse one libphonenumber verdict for every
number that shares a deciding prefix.

Only the regular-expression features libphonenumber's metadata uses are supported (literals,
classes, ``\\d``, groups, alternation, bounded and unbounded repeats); anything else
(anchors, look-arounds, back-references, possessive repeats) raises :class:`Unsupported`,
and callers then fall back to libphonenumber itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from functools import lru_cache

# re's own parser: the same reading of the pattern that re.compile makes. No public API
# exposes it, hence the private import.
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

ALL_DIGITS = (1 << 10) - 1
State = frozenset[int]
#: Completion lengths are tracked up to this many digits (E.164 numbers have at most 15).
MAX_LENGTH = 24


class Unsupported(ValueError):
    """The pattern uses a feature this module does not model."""


class Decision(Enum):
    ALL = "all"
    """Every completion of the prefix matches."""
    NONE = "none"
    """No completion matches."""
    OPEN = "open"
    """Some completions match and some do not: more digits are needed."""


class DigitAutomaton:
    """A Thompson automaton over the digits 0–9 for one pattern (full-match semantics)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._moves: list[list[tuple[int, int]]] = []  # state → [(digit mask, target)]
        self._eps: list[list[int]] = []
        start, self._accept = self._fragment(sre_parse.parse(pattern))
        self.start: State = self._closure((start,))
        self._step: dict[tuple[State, int], State] = {}
        self._all: dict[tuple[State, int], bool] = {}
        self._lengths = self._completion_lengths()

    # ------------------------------------------------------------------ running
    def step(self, states: State, digit: int) -> State:
        key = (states, digit)
        found = self._step.get(key)
        if found is None:
            bit = 1 << digit
            targets = [t for s in states for mask, t in self._moves[s] if mask & bit]
            found = self._closure(targets)
            self._step[key] = found
        return found

    def run(self, digits: str, states: State | None = None) -> State:
        current = self.start if states is None else states
        for ch in digits:
            if not current:
                break
            current = self.step(current, ord(ch) - 48)
        return current

    def matches(self, digits: str) -> bool:
        return self._accept in self.run(digits)

    def decide(self, states: State, remaining: int) -> Decision:
        """Whether the strings of exactly ``remaining`` more digits from ``states`` all match."""
        if not self._reaches(states, remaining):
            return Decision.NONE
        if self._always(states, remaining):
            return Decision.ALL
        return Decision.OPEN

    def _reaches(self, states: State, remaining: int) -> bool:
        """Some completion of ``remaining`` digits is accepted."""
        if remaining > MAX_LENGTH:
            raise Unsupported(f"completions longer than {MAX_LENGTH} digits")
        bit = 1 << remaining
        lengths = self._lengths
        return any(lengths[s] & bit for s in states)

    def _completion_lengths(self) -> list[int]:
        """Per state, a bit mask of the numbers of digits after which it can accept (a
        fixpoint over the automaton, capped at :data:`MAX_LENGTH`)."""
        cap = (1 << (MAX_LENGTH + 1)) - 1
        lengths = [0] * len(self._moves)
        lengths[self._accept] = 1
        changed = True
        while changed:
            changed = False
            for s in range(len(self._moves)):
                value = lengths[s]
                for t in self._eps[s]:
                    value |= lengths[t]
                for _mask, t in self._moves[s]:
                    value |= (lengths[t] << 1) & cap
                if value != lengths[s]:
                    lengths[s] = value
                    changed = True
        return lengths

    def _always(self, states: State, remaining: int) -> bool:
        """Every completion of ``remaining`` digits is accepted."""
        if not states:
            return False
        if remaining == 0:
            return self._accept in states
        key = (states, remaining)
        found = self._all.get(key)
        if found is None:
            found = all(self._always(self.step(states, d), remaining - 1) for d in range(10))
            self._all[key] = found
        return found

    # ---------------------------------------------------------------- building
    def _new(self) -> int:
        self._moves.append([])
        self._eps.append([])
        return len(self._moves) - 1

    def _closure(self, states: Iterable[int]) -> State:
        seen = set(states)
        stack = list(seen)
        while stack:
            for t in self._eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    def _fragment(self, items: Sequence[tuple[object, object]]) -> tuple[int, int]:
        """Build ``items`` (a parsed sequence) as a fragment; return (entry, exit)."""
        entry = exit_ = self._new()
        for op, arg in items:
            start, end = self._item(op, arg)
            self._eps[exit_].append(start)
            exit_ = end
        return entry, exit_

    def _edge(self, mask: int) -> tuple[int, int]:
        start, end = self._new(), self._new()
        if mask:
            self._moves[start].append((mask, end))
        return start, end

    def _item(self, op: object, arg: object) -> tuple[int, int]:
        c = sre_constants
        if op is c.LITERAL:
            return self._edge(_digit_mask(arg))
        if op is c.NOT_LITERAL:
            return self._edge(ALL_DIGITS & ~_digit_mask(arg))
        if op is c.ANY:
            return self._edge(ALL_DIGITS)
        if op is c.IN:
            return self._edge(_class_mask(arg))
        if op is c.SUBPATTERN:
            sub: Sequence[tuple[object, object]] = arg[3]  # type: ignore[index]
            return self._fragment(sub)  # flags cannot change how digits match
        if op is c.BRANCH:
            alternatives: list[Sequence[tuple[object, object]]] = arg[1]  # type: ignore[index]
            start, end = self._new(), self._new()
            for alternative in alternatives:
                a, b = self._fragment(alternative)
                self._eps[start].append(a)
                self._eps[b].append(end)
            return start, end
        if op is c.MAX_REPEAT or op is c.MIN_REPEAT:  # greedy or lazy: same language
            low: int = arg[0]  # type: ignore[index]
            high: int = arg[1]  # type: ignore[index]
            repeated: Sequence[tuple[object, object]] = arg[2]  # type: ignore[index]
            return self._repeat(int(low), None if high is c.MAXREPEAT else int(high), repeated)
        raise Unsupported(f"{self.pattern!r}: {op} is not modelled")

    def _repeat(self, low: int, high: int | None, sub: Sequence[tuple[object, object]]) -> tuple[int, int]:
        entry = exit_ = self._new()
        for _ in range(low):
            a, b = self._fragment(sub)
            self._eps[exit_].append(a)
            exit_ = b
        if high is None:
            a, b = self._fragment(sub)
            self._eps[exit_].append(a)
            self._eps[b].append(a)
            end = self._new()
            self._eps[exit_].append(end)
            self._eps[b].append(end)
            return entry, end
        end = self._new()
        for _ in range(high - low):
            self._eps[exit_].append(end)
            a, b = self._fragment(sub)
            self._eps[exit_].append(a)
            exit_ = b
        self._eps[exit_].append(end)
        return entry, end


def _digit_mask(code: object) -> int:
    value = int(code)  # type: ignore[call-overload]
    return 1 << (value - 48) if 48 <= value <= 57 else 0


def _class_mask(items: object) -> int:
    c = sre_constants
    mask = 0
    negate = False
    for op, arg in items:  # type: ignore[attr-defined]
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            mask |= _digit_mask(arg)
        elif op is c.RANGE:
            low, high = arg
            for code in range(max(low, 48), min(high, 57) + 1):
                mask |= 1 << (code - 48)
        elif op is c.CATEGORY:
            if arg in (c.CATEGORY_DIGIT, c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE):
                mask |= ALL_DIGITS
            elif arg not in (c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD, c.CATEGORY_SPACE):
                raise Unsupported(f"character category {arg}")
        else:
            raise Unsupported(f"{op} in a character class")
    return ALL_DIGITS & ~mask if negate else mask


@lru_cache(maxsize=4096)
def compile_digits(pattern: str) -> DigitAutomaton:
    """The automaton of ``pattern`` (cached: metadata patterns repeat across regions)."""
    return DigitAutomaton(pattern)


def prefix_width(pattern: str) -> int | None:
    """The most characters ``re.match(pattern, s)`` can read, or None when unbounded."""
    low, high = sre_parse.parse(pattern).getwidth()
    del low
    return None if high >= sre_constants.MAXREPEAT else int(high)
