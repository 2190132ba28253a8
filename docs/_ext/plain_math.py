"""Plain-text formulas, as tinycnn's docstrings write them, translated to LaTeX for MathJax.

The docstrings are written to be read in plain text (`help()`, an editor), so their formulas use
the notation of a careful plain-text writer, not LaTeX:

    mean_c = (1/M) Σ x        inv_std_c = 1 / sqrt(var_c + eps)        dγ_c = Σ dout * x̂
    out[n, f, i, j] = bias[f] + sum_{c,di,dj} w[f,c,di,dj] * x_pad[n, c, i*s + di, j*s + dj]
    L(ŷ, y) = Σ_k (ŷ_k - y_k)²    if y_1 = 1

`to_latex` reads one such line and writes what a textbook would typeset:

- names: one letter (Latin or Greek, with a hat: `x̂`, `ŷ`) in italics; `d` and one letter
  (`dW`, `dγ`) as a derivative; longer names (`mean`, `dout`, `box_weight`) upright. An underscore
  makes a subscript: `b_x`, `mean_c`, `inv_std_c` (the last short part), `x_pad`, `H_out`
  (after one letter, the rest); `m_hat` is `m̂`; `eps`, `beta1` are ε, β₁.
- `Σ_k`, `sum_{c,di,dj}`, `max_{u, v < k}`, `argmax_b`: big operators with their limits;
  `sqrt(...)` a root, `e^(...)` and `x²` superscripts, `log`, `exp`, `max` upright operators.
- `*` and `·` as a centred dot, `->` `<-` `>=` `<=` `+=` `//` `||...||` as their symbols,
  indexing brackets `x[n, c, i*s + di]` as written, `..` as an ellipsis, `W.T` as a transpose.
- spacing as the writer set it: a gap of two spaces or more between two formulas on a line is
  a wide space; a parenthesised remark after such a gap (`(unbiased)`) is text; words stay
  words, upright and spaced (`where p_c = 0`).
- every LaTeX special (`# $ % & ~ ^ _ { } \\`) that is not notation is escaped, so any text
  gives valid LaTeX (tests/test_docs.py checks this with hypothesis).

`to_latex_block` typesets a block of such lines, aligned at each line's first relation, and
`formula_kind` tells a formula from code (`tc.foo(...)`, `python lessons/...`), a diagram or a
list, which stay as they are.
"""

import ast
import re
import textwrap
import unicodedata
import warnings

GREEK = {
    "α": r"\alpha",
    "β": r"\beta",
    "γ": r"\gamma",
    "δ": r"\delta",
    "ε": r"\varepsilon",
    "ζ": r"\zeta",
    "η": r"\eta",
    "θ": r"\theta",
    "ι": r"\iota",
    "κ": r"\kappa",
    "λ": r"\lambda",
    "μ": r"\mu",
    "ν": r"\nu",
    "ξ": r"\xi",
    "ο": "o",
    "π": r"\pi",
    "ρ": r"\rho",
    "ς": r"\varsigma",
    "σ": r"\sigma",
    "τ": r"\tau",
    "υ": r"\upsilon",
    "φ": r"\phi",
    "χ": r"\chi",
    "ψ": r"\psi",
    "ω": r"\omega",
    "Γ": r"\Gamma",
    "Δ": r"\Delta",
    "Θ": r"\Theta",
    "Λ": r"\Lambda",
    "Ξ": r"\Xi",
    "Π": r"\Pi",
    "Σ": r"\Sigma",
    "Υ": r"\Upsilon",
    "Φ": r"\Phi",
    "Ψ": r"\Psi",
    "Ω": r"\Omega",
}
for _capital, _latin in zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧ", "ABEZHIKMNOPTX", strict=True):
    GREEK[_capital] = _latin

GREEK_NAMES = {
    "alpha": r"\alpha",
    "beta": r"\beta",
    "gamma": r"\gamma",
    "delta": r"\delta",
    "eps": r"\varepsilon",
    "epsilon": r"\varepsilon",
    "lambda": r"\lambda",
    "sigma": r"\sigma",
    "theta": r"\theta",
}
"""Greek letters spelled out in code names (`eps`, `beta1`): typeset as the letter."""

OPERATOR_NAMES = {
    "log": r"\log",
    "exp": r"\exp",
    "max": r"\max",
    "min": r"\min",
    "tanh": r"\tanh",
    "sin": r"\sin",
    "cos": r"\cos",
    "argmax": r"\operatorname*{argmax}",
    "argmin": r"\operatorname*{argmin}",
}
BIG_OPERATORS = {"Σ": r"\sum", "∑": r"\sum", "sum": r"\sum"}

ACCENTS = {"\u0302": r"\hat", "\u0303": r"\tilde", "\u0304": r"\bar", "\u0307": r"\dot"}
WIDE_ACCENTS = {r"\hat": r"\widehat", r"\tilde": r"\widetilde", r"\bar": r"\overline"}

SYMBOLS = {
    "<-": r"\leftarrow",
    "->": r"\to",
    "<=": r"\le",
    ">=": r"\ge",
    "==": r"=\!=",
    "!=": r"\ne",
    "+=": r"\mathrel{+}=",
    "-=": r"\mathrel{-}=",
    "//": r"\mathbin{/\!/}",
    "||": r"\|",
    "...": r"\ldots",
    "..": r"\ldots",
    "*": r"\cdot",
    "·": r"\cdot",
    "×": r"\times",
    "−": "-",
    "≈": r"\approx",
    "≤": r"\le",
    "≥": r"\ge",
    "≠": r"\ne",
    "→": r"\to",
    "←": r"\leftarrow",
    "∩": r"\cap",
    "∪": r"\cup",
    "∈": r"\in",
    "∞": r"\infty",
    "∂": r"\partial",
    "…": r"\ldots",
    "√": r"\surd",
    "~": r"\sim",
    "@": r"\mathbin{@}",
    "#": r"\#",
    "$": r"\${}",  # never "$$" at a line's end: that would close MyST's math block
    "%": r"\%",
    "&": r"\&",
    "\\": r"\backslash",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\hat{\ }",
    '"': '\\text{"}',
    "`": "\\text{`}",
}
RELATIONS = {"=", "<-", "->", "<=", ">=", "==", "!=", "+=", "-=", "≈", "≤", "≥", "≠", "<", ">", "~"}
ALIGN_RELATIONS = {"=", "<-", "+=", "-=", "≈", ">=", "<=", "≥", "≤"}
"""The relations a block of formulas is aligned at (the first one of each line)."""
BINARY = {"+", "-", "−", "*", "·", "×", "/", "//", "@", "∩", "∪"}
SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿᵀ", "0123456789+-n⊤", strict=True))
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋", "0123456789+-", strict=True))

MARKS = "\u0300-\u036f"
SCRIPT_CHARS = "".join(SUPERSCRIPTS) + "".join(SUBSCRIPTS)
LETTER = rf"[^\W\d_{SCRIPT_CHARS}][{MARKS}]*"
ALNUM = rf"[^\W_{SCRIPT_CHARS}][{MARKS}]*"
TOKEN = re.compile(
    rf"""
    (?P<space>[ ]+)
  | (?P<number>\d+(?:\.\d+)?(?:e[-+]?\d+\b)?)
  | (?P<bigop>[Σ∑])
  | (?P<hyphenated>[A-Za-z]{{2,}}(?:-[A-Za-z]{{2,}})+\b)
  | (?P<word>{LETTER}(?:{ALNUM})*(?:_(?:{ALNUM})+)*(?:\.\.(?:\d[\w+]*)?(?![\w.]))?)
  | (?P<symbol><-|->|<=|>=|==|!=|\+=|-=|//|\|\||\.\.\.|\.\.)
  | (?P<char>.)
    """,
    re.VERBOSE,
)
TEXT_SAFE = re.compile(r"[^\W_]|[ ,.;:'!?()/-]")
"""What may stand inside \\text{...} as it is (MathJax reads braces, `$` and `\\` there)."""
PROSE_WORD = re.compile(r"[a-z]{3,}")


class Piece:
    """One item of a typeset line: its LaTeX, its kind, and the scripts attached to it."""

    def __init__(self, tex, kind, sub=None, sup=None):
        self.tex, self.kind, self.sub, self.sup = tex, kind, sub, sup

    def attach(self, script, tex):
        """Add a subscript or superscript; a second one of the same kind nests the first."""
        if getattr(self, script) is not None:
            self.tex, self.sub, self.sup = "{" + self.render() + "}", None, None
        setattr(self, script, tex)

    def render(self):
        tex = self.tex
        if self.sub is not None:
            tex += "_{" + self.sub + "}"
        if self.sup is not None:
            tex += "^{" + self.sup + "}"
        return tex


def tokens(text):
    """(kind, text) for every token of one line, in NFD so that `x̂` is `x` and a hat."""
    text = unicodedata.normalize("NFD", text.expandtabs(4))
    text = "".join(
        c for c in text if unicodedata.category(c)[0] != "C" or c == " "
    )  # control characters say nothing
    return [(match.lastgroup, match.group()) for match in TOKEN.finditer(text)]


def letter_tex(letter):
    """One letter (with its accents, NFD) in math: Latin as is, Greek by name, others as text."""
    base, marks = letter[0], letter[1:]
    if base in GREEK:
        tex = GREEK[base]
    elif base.isascii() and base.isalnum():
        tex = base
    else:
        tex = r"\text{" + base + "}"
    for mark in marks:
        if mark in ACCENTS:
            tex = ACCENTS[mark] + "{" + tex + "}"
    return tex


def join_tex(parts):
    """Concatenate LaTeX, keeping a command apart from a letter after it (`\\sigma x`)."""
    out = ""
    for part in parts:
        if re.search(r"\\[A-Za-z]+$", out) and part[:1].isalpha():
            out += " "
        out += part
    return out


def letters(word):
    """Split a word into letters, each with its combining marks."""
    return re.findall(rf"[^{MARKS}][{MARKS}]*", word)


def upright(word):
    """A name of several letters, upright; an accent on its last letter covers the whole name."""
    parts = letters(word)
    accents = [mark for mark in parts[-1][1:] if mark in ACCENTS] if parts else []
    body = "".join(
        (p[0] if p[0].isascii() else "{" + letter_tex(p[0]) + "}") if p[0] != "_" else r"\_"
        for p in parts
    )
    tex = r"\mathrm{" + body + "}"
    for mark in accents:
        tex = WIDE_ACCENTS[ACCENTS[mark]] + "{" + tex + "}"
    return tex


def is_symbol(word):
    """One letter, or `d` and one letter (a differential), or a Greek name with digits."""
    parts = letters(word)
    if len(parts) == 1:
        return True
    if len(parts) == 2 and parts[0] == "d" and parts[1][0].isalpha():
        return True
    name = re.fullmatch(r"([a-z]+)(\d*)", word)
    return bool(name and name.group(1) in GREEK_NAMES)


def symbol_tex(word):
    name = re.fullmatch(r"([a-z]+)(\d*)", word)
    if name and name.group(1) in GREEK_NAMES:
        tex = GREEK_NAMES[name.group(1)]
        return (tex + "_{" + name.group(2) + "}") if name.group(2) else tex
    return join_tex(letter_tex(letter) for letter in letters(word))


UPRIGHT_SCRIPTS = {"in", "out"}


def script_tex(text):
    """A subscript written after `_`: short ones (`c`, `nl`, `0`) in italics, words upright.

    `ŷ_2..5` and `ŷ_6..` run over a range: the range is the subscript.
    """
    if ".." in text:
        return r"\ldots ".join(script_tex(part) if part else "" for part in text.split(".."))
    if text.isdigit() or (
        len(letters(text)) <= 2 and "_" not in text and text not in UPRIGHT_SCRIPTS
    ):
        return join_tex(letter_tex(letter) for letter in letters(text))
    return upright(text)


def word_piece(word):
    """The piece for a name: `x_pad`, `mean_c`, `inv_std_c`, `m_hat`, `dγ_c`, `sum_t`, `log`."""
    parts = word.split("_")
    base, subs = parts[0], parts[1:]
    if subs and subs[-1] == "hat" and is_symbol(base) and len(subs) == 1:
        return Piece(r"\hat{" + symbol_tex(base) + "}", "atom")
    short = not subs or (len(subs) == 1 and len(letters(subs[0])) <= 2)
    if base in BIG_OPERATORS and short:
        return Piece(BIG_OPERATORS[base], "bigop", sub=script_tex(subs[0]) if subs else None)
    if base in OPERATOR_NAMES and short:
        kind = "bigop" if subs else "function"
        return Piece(OPERATOR_NAMES[base], kind, sub=script_tex(subs[0]) if subs else None)
    if is_symbol(base):
        return Piece(symbol_tex(base), "atom", sub=script_tex("_".join(subs)) if subs else None)
    if subs and (subs[-1].isdigit() or len(letters(subs[-1])) <= 1 or ".." in subs[-1]):
        return Piece(upright("_".join(parts[:-1])), "word", sub=script_tex(subs[-1]))
    return Piece(upright(word), "word")


def matching(items, start, opening, closing):
    """The index of the bracket closing the one at `start`, or None."""
    depth = 0
    for index in range(start, len(items)):
        text = items[index][1]
        if text == opening:
            depth += 1
        elif text == closing:
            depth -= 1
            if depth == 0:
                return index
    return None


def is_remark(items, start, end):
    """`(unbiased)`, `(t_y likewise)`: a parenthesised remark in words, after a wide gap.

    It holds a plain word and no operator, and ends the line (or another wide gap follows).
    """
    inner = "".join(text for _, text in items[start + 1 : end])
    rest = items[end + 1 :]
    ends = all(kind == "space" or text in ",.;:" for kind, text in rest) or (
        rest[0][0] == "space" and len(rest[0][1]) >= 2
    )
    return (
        ends
        and bool(PROSE_WORD.search(inner))
        and " - " not in inner
        and not set(inner) & set("=+*/^·Σ<>|²[]{}")
    )


def remark_tex(items, start, end):
    inner = "".join(text for _, text in items[start : end + 1])
    if all(TEXT_SAFE.fullmatch(c) for c in inner):
        return r"\text{" + inner + "}"
    return "(" + translate(items[start + 1 : end]) + ")"


def translate_group(items, start, end):
    """The LaTeX of items[start:end] as a unit (a script or an argument)."""
    return translate(items[start:end]) or r"\,"


def pieces_of(items):
    """Turn tokens into pieces, attaching scripts and reading groups (`_{..}`, `^(..)`, sqrt)."""
    pieces = []
    index = 0

    def last_scriptable():
        if pieces and pieces[-1].kind in ("atom", "word", "close", "bigop", "function"):
            return pieces[-1]
        pieces.append(Piece("{}", "atom"))
        return pieces[-1]

    while index < len(items):
        kind, text = items[index]
        following = items[index + 1] if index + 1 < len(items) else (None, "")
        if kind == "space":
            wide = len(text) >= 2 or index == 0
            pieces.append(Piece("", "gap" if wide else "space"))
        elif kind == "number":
            mantissa, _, exponent = text.partition("e")
            if exponent:
                tex = "10^{" + str(int(exponent)) + "}"
                tex = tex if mantissa == "1" else mantissa + r"\times " + tex
            else:
                tex = text
            pieces.append(Piece(tex, "atom"))
        elif kind == "hyphenated":
            pieces.append(Piece(r"\text{" + text + "}", "word"))
        elif kind == "bigop":
            pieces.append(Piece(BIG_OPERATORS[text], "bigop"))
        elif kind == "word":
            piece = word_piece(text)
            name = text.split("_")[0]
            if following[1] == "(" and name in ("sqrt", "floor") and "_" not in text:
                close = matching(items, index + 1, "(", ")")
                if close is not None:
                    inner = translate_group(items, index + 2, close)
                    if name == "sqrt":
                        piece = Piece(r"\sqrt{" + inner + "}", "atom")
                    else:
                        piece = Piece(r"\lfloor " + inner + r"\rfloor", "atom")
                    pieces.append(piece)
                    index = close + 1
                    continue
            pieces.append(piece)
        elif text in ("_", "^") and following[1] in ("{", "("):
            opening = following[1]
            close = matching(items, index + 1, opening, "}" if opening == "{" else ")")
            if close is None:
                pieces.append(Piece(SYMBOLS[text], "atom"))
            else:
                script = translate_group(items, index + 2, close)
                last_scriptable().attach("sub" if text == "_" else "sup", script)
                index = close + 1
                continue
        elif text in ("_", "^") and following[0] in ("word", "number"):
            script = translate(items[index + 1 : index + 2])
            last_scriptable().attach("sub" if text == "_" else "sup", script)
            index += 2
            continue
        elif text in SUPERSCRIPTS or text in SUBSCRIPTS:
            script = SUPERSCRIPTS.get(text) or SUBSCRIPTS[text]
            script = r"\top" if script == "⊤" else script
            last_scriptable().attach("sup" if text in SUPERSCRIPTS else "sub", script)
        elif text == "." and following == ("word", "T") and pieces and pieces[-1].kind != "gap":
            last_scriptable().attach("sup", r"\top")
            index += 2
            continue
        elif text == "(":
            close = matching(items, index, "(", ")")
            after_gap = not pieces or pieces[-1].kind == "gap"
            if close is not None and after_gap and is_remark(items, index, close):
                pieces.append(Piece(remark_tex(items, index, close), "text"))
                index = close + 1
                continue
            pieces.append(Piece("(", "open"))
        elif text == "[":
            pieces.append(Piece("[", "open"))
        elif text in (")", "]"):
            pieces.append(Piece(text, "close"))
        elif text == "|":
            pieces.append(Piece("|", "atom"))
        elif text == ":" and pieces and pieces[-1].kind in ("word", "atom", "close"):
            following_space = following[0] == "space"
            pieces.append(Piece(r"\colon" if following_space else ":", "punct"))
        elif text in (",", ";", ".", "!", "?", ":"):
            pieces.append(Piece(text, "punct"))
        elif text in ("'",):
            pieces.append(Piece("'", "close"))
        elif text in RELATIONS:
            pieces.append(Piece(SYMBOLS.get(text, text), "rel"))
        elif text in BINARY:
            pieces.append(Piece(SYMBOLS.get(text, text), "bin"))
        elif text in SYMBOLS:
            pieces.append(Piece(SYMBOLS[text], "atom"))
        elif text.isascii():
            pieces.append(Piece(text, "atom"))
        elif unicodedata.category(text[0]).startswith(("L", "N", "S", "P")):
            pieces.append(Piece(r"\text{" + text[0] + "}", "atom"))
        index += 1
    return pieces


def spacing(before, after):
    """The space a writer's single blank between two pieces stands for in math.

    None between juxtaposed symbols would glue `x S` into `xS`; a thin space keeps a product
    readable, a full one keeps words apart (`where p_c`). Operators, relations and punctuation
    bring their own spacing.
    """
    operands = ("atom", "word", "close", "text")
    if before.kind in ("word", "text") and after.kind in ("bigop", "function"):
        return r"\ "
    if before.kind == "punct" and before.tex in (",", ";"):
        return r"\ " if after.kind in ("word", "text") else ""
    if before.kind not in operands + ("punct",) or after.kind not in (*operands, "open"):
        return ""
    if before.kind in ("word", "text") or after.kind in ("word", "text"):
        return r"\ "
    return r"\,"


def render(pieces):
    """Join the pieces, turning each blank into the space it stands for.

    A wide blank (two spaces or more) between two operands separates two formulas on one line:
    a `\\qquad`; around an operator or a relation it only aligned the text, and means nothing.
    """
    solid = [piece for piece in pieces if piece.kind not in ("space", "gap")]
    out, seen = [], 0
    for piece in pieces:
        if piece.kind in ("space", "gap"):
            before = solid[seen - 1] if seen else None
            after = solid[seen] if seen < len(solid) else None
            if before is None or after is None or (out and out[-1] in (r"\qquad ", r"\ ")):
                continue
            space = spacing(before, after)
            if piece.kind == "gap" and (space or before.kind == "punct"):
                space = r"\qquad "
            out.append(space)
            continue
        seen += 1
        tex = piece.render()
        written = next((text for text in reversed(out) if text), "")
        if re.search(r"\\[A-Za-z]+$", written) and tex[:1].isalpha():
            out.append(" ")  # `\cdot x`, not `\cdotx`
        out.append(tex)
    return "".join(out).strip()


def translate(items):
    return render(pieces_of(items))


def to_latex(line):
    """One plain-text formula line as LaTeX (math mode); never raises, always valid LaTeX."""
    return translate(tokens(line.strip()))


def first_relation(items):
    """The index of the line's first relation outside brackets (where a block aligns), or None."""
    depth = 0
    for index, (_, text) in enumerate(items):
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
        elif depth == 0 and text in ALIGN_RELATIONS:
            return index
    return None


WIDE = 72
"""A block with a line wider than this (in characters) holds formulas side by side that a page
has no room for: each gets a row of its own."""
CONNECTORS = {"if", "where", "for", "with", "and", "or", "only", "over", "else", "then", "as", "of"}


def statements(items):
    """A wide line cut into rows: where a new statement starts after a wide gap
    (`mean_c = ...   var_c = ...`), and before the words or the remark that end a statement
    (`... of the FIRST maximum`, `(unbiased)`). A condition with its own relation
    (`if y_1 = 1`, `where p_c = 0`) stays with its formula.
    """
    cuts, depth = [0], 0
    for index, (kind, text) in enumerate(items):
        depth += (text in "([{") - (text in ")]}") if kind in ("char", "bigop") else 0
        if kind != "space" or depth != 0 or index + 1 == len(items):
            continue
        if first_relation(items[cuts[-1] : index]) is None:
            continue
        rest = items[index + 1 :]
        at, head, wide = first_relation(rest), rest[0][1], len(text) >= 2
        new_statement = wide and at and head.lower() not in CONNECTORS and head not in "(+-·*"
        closing_words = at is None and (head.lower() in CONNECTORS or (wide and head == "("))
        if new_statement or closing_words:
            cuts.append(index + 1)
    return [items[start:end] for start, end in zip(cuts, [*cuts[1:], len(items)], strict=True)]


def to_latex_block(lines):
    """Lines of formulas as one display: aligned at each line's first relation.

    A line without a relation (a continuation starting with `+`, or a remark) is indented past
    the relations above it, as the writer indented it; a wide line's formulas get a row each.
    """
    lines = [line.strip() for line in lines if line.strip()]
    wide = any(len(line) > WIDE for line in lines)
    rows = []
    for line in lines:
        items = tokens(line)
        rows.extend(statements(items) if wide else [items])
    if len(rows) == 1:
        return translate(rows[0])
    latex = []
    for items in rows:
        while items and items[-1][0] == "space":
            items = items[:-1]
        at = first_relation(items)
        if at is None:
            # `{}` before a leading `+` keeps it a binary operator, spaced as in the line above.
            latex.append(r"& \quad {}" + translate(items))
        else:
            left, right = translate(items[:at]), translate(items[at:])
            latex.append(f"{left} &{right}" if left else "&" + right)
    return "\\begin{aligned}\n" + " \\\\\n".join(latex) + "\n\\end{aligned}"


# --- which lines are formulas ----------------------------------------------------------------

CODE_START = re.compile(r"\s*(>>>|\$ |python3? |pip |import |from \w+ import |#|\.\.\.\s*$)")
METHOD_CALL = re.compile(r"\w\.[A-Za-z_]\w*\(")
MATH_FUNCTIONS = {"sqrt", "log", "exp", "max", "min", "floor", "sum", "tanh", "sigmoid", "softmax"}
LIST_ITEM = re.compile(r"\s*(\d+\.|[-*+]) \S")
FORMULA_MARK = re.compile(r"[=Σ∑²≈∩∪√^̂]|<-|\|\||\bsum_|\bmax_|\bsqrt\(|[α-ωΓ-Ω]")


def is_code(line):
    """Python, a shell command, a dict or a diagram: shown as written, monospaced."""
    stripped = line.strip()
    return bool(
        CODE_START.match(line)
        or "`" in line
        or METHOD_CALL.search(line)
        or " # " in line
        or " | " in stripped
        or '{"' in line
    )


def python_call_statement(text):
    """`torch_model = to_torch(model)`: valid Python that calls a function with a code name.

    `L = BCE(z, p)` is valid Python too, but calls what reads as a math function.
    """
    try:
        with warnings.catch_warnings():  # text is a guess at code: "\ " in it is no warning's
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and "_" in node.func.id
        and node.func.id not in MATH_FUNCTIONS
        for node in ast.walk(tree)
    )


def is_formula_line(line):
    """A line that states a formula: a relation, Σ, a square, a Greek letter, a hat; not code."""
    return bool(FORMULA_MARK.search(unicodedata.normalize("NFD", line))) and not is_code(line)


def is_continuation(line):
    """A formula's next line: it starts with an operator, or is a remark in parentheses."""
    stripped = line.strip()
    if stripped[:1] in ("+", "-", "−", "·", "*", "/") and stripped[:2] not in ("- ", "* "):
        return True
    if stripped[:2] in ("+ ", "- ", "− ", "· "):
        return True
    return stripped.startswith("(") and stripped.endswith(")") and not is_code(line)


def prose_run(line):
    """The longest run of plain words (three letters or more, no `_`) in a line."""
    longest = run = 0
    for word in re.split(r"\s+", re.sub(r"\([^()]*\)", " ", line.strip())):
        run = run + 1 if PROSE_WORD.fullmatch(word.strip(",.;")) else 0  # `label:` is no prose
        longest = max(longest, run)
    return longest


def is_remark_line(line):
    """A line that is a remark in brackets, in words (`(a NaN counts as the maximum)`)."""
    stripped = line.strip()
    items = tokens(stripped)
    if not stripped.startswith("(") or matching(items, 0, "(", ")") != len(items) - 1:
        return False
    return is_remark(items, 0, len(items) - 1)


def formula_kind(lines):
    """What a block of a docstring is: "formula", "list" or "code" (shown as written).

    A formula block has at least one formula line and nothing else but formula lines,
    continuations (`+ ...`) and remarks; one code line (`tc.foo(...)`, a diagram with ` | `)
    makes the block code. A block that opens with `1. ` or `- ` is a list.
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        return "code"
    if LIST_ITEM.match(lines[0]):
        return "list"
    if any(is_code(line) for line in lines):
        return "code"
    if python_call_statement(textwrap.dedent("\n".join(lines))):
        return "code"
    if not any(is_formula_line(line) for line in lines):
        return "code"
    if all(is_formula_line(line) or is_continuation(line) for line in lines):
        return "formula"
    return "code"


STATEMENT = re.compile(r"(?<![<>=!])=(?!=)|<-|≈|\+=")
"""The relation of a statement (`=`, `<-`, `≈`, `+=`), not a comparison (`>=`, `==`)."""
LEAD_LABEL = re.compile(r"\s*[a-z]+( \([^()]*\))?: ")


def is_display_line(line):
    """A line of running text that is a formula on its own (`x_min = b_x - b_w / 2`).

    Stricter than a line inside an indented block: it states something (`=`, `<-`, `≈`), what
    stands before its relation is a formula's left side (a label such as `backward:` aside, at
    most one word), and it reads as no sentence (no two plain words in a row, outside
    parentheses).
    """
    relation = STATEMENT.search(line)
    if relation is None or not is_formula_line(line) or LIST_ITEM.match(line) or " -> " in line:
        return False  # `x: (N, C, H, W) -> out: ...` maps shapes: a sentence, with formulas in it
    left = LEAD_LABEL.sub("", line[: relation.start()], count=1)
    left = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", " ", left)
    words = [word for word in left.split() if re.fullmatch(r"[A-Za-z]{2,}[,;:]?", word)]
    return len(words) <= 1 and prose_run(line) < 2 and not python_call_statement(line.strip())


# --- formulas inside running text ------------------------------------------------------------

STOP_WORDS = set(
    "a an the and or nor but of is are was were be been for with where if so that as in on at to "
    "by from it its this these those when which not all each every then else only over per into "
    "than their there has have had can may will whose what how no one two both any same such "
    "after before while unless until without within along up down out's its".split()
)
"""Words that belong to the sentence around a formula, never to the formula."""
RELATION_WORDS = {"=", "≈", "<", ">", "<=", ">=", "≤", "≥", "==", "!=", "<-"}
"""Relations that make a statement in running text (`->` there maps shapes, not values)."""
OPERATOR_WORDS = RELATION_WORDS | {"+", "-", "−", "*", "·", "/", "//", "×", "~", "@", "...", ".."}
"""What joins the words of a formula in running text."""
OPERAND = re.compile(rf"[\w{MARKS}()\[\]{{}}^_.,;:'/*+\-−·|²³₂≈<>=!…]+")
MATH_ATOM = re.compile(
    rf"(?<![\w{MARKS}])(?:[^\W\d_][{MARKS}]?_(?:\{{[^{{}}]*\}}|[A-Za-z0-9]{{1,2}}\b|[0-9]+\.\.)"
    rf"|[A-Z]_[A-Za-z]+\b)"
    rf"|[Σσγβλμεθ∑²³₂√≈]|[^\W\d_]\u0302|\b[a-z]\^|\bsqrt\(|\b(?:arg)?(?:max|min)_[a-z]\b"
)
"""A sign that a word is math: `p_c`, `ŷ_{K+5}`, `H_out`, a Greek letter, a hat, `x²`, `e^`."""
TRAILING = ",.;:"


def balanced(text):
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for character in text:
        if character in depth:
            depth[character] += 1
        elif character in closing:
            depth[closing[character]] -= 1
            if depth[closing[character]] < 0:
                return False
    return not any(depth.values())


def operand(word):
    """A word that can stand in a formula: no sentence word, nothing but notation."""
    if set(word) <= set(".,;"):
        return word.startswith("..")  # an ellipsis: `x_1, ..., x_L`
    core = word.rstrip(TRAILING)
    if not re.search(r"\w", core) or not OPERAND.fullmatch(core) or core.endswith("'s"):
        return False
    words = re.findall(r"[A-Za-z]+", core)
    return not any(w.lower() in STOP_WORDS and len(core) == len(w) for w in words)


def trim(text):
    """A span without its sentence punctuation and unmatched brackets at its edges."""
    start, end = 0, len(text)
    while True:
        before = (start, end)
        while end > start and text[end - 1] in TRAILING:
            end -= 1
        if end > start and text[end - 1] in ")]}" and not balanced(text[start:end]):
            end -= 1
        if end > start and text[start] in "([{" and not balanced(text[start:end]):
            start += 1
        if (start, end) == before:
            return start, end


def plain_word(word):
    """A word of the sentence's kind (`values`, `(classes)`), not a symbol (`x`) or notation."""
    name = re.fullmatch(r"\(?([A-Za-z]{2,})\)?[,.;:]?", word)
    return bool(name) and name.group(1) not in OPERATOR_NAMES  # `Σ_k c_k log softmax(z)_k`


def gloss(word):
    """`(p_c)` after a symbol: a gloss in brackets, not a product."""
    core = word.rstrip(TRAILING)
    return core.startswith("(") and core.endswith(")") and balanced(core)


def extend_right(words, index, text, start):
    """The last word of the formula that goes on after words[index] (an operator or operand)."""
    right, after_operand = index, words[index][2] not in OPERATOR_WORDS
    while right + 1 < len(words):
        word = words[right + 1][2]
        following = words[right + 2][2] if right + 2 < len(words) else ""
        if word not in OPERATOR_WORDS and not operand(word):
            break
        if after_operand and word not in OPERATOR_WORDS and (plain_word(word) or gloss(word)):
            break  # `M = N * H * W values`: a word after an operand is the sentence again
        if word == "a" and following not in OPERATOR_WORDS:
            break  # the article, not the symbol
        right += 1
        after_operand = word not in OPERATOR_WORDS
        if word.endswith(tuple(TRAILING)) and balanced(
            text[start : words[right][1]].rstrip(",.;:")
        ):
            break
    return right


def extend_left(words, index, floor):
    """The first word of the formula that ends before words[index] (a relation), from floor.

    A word that ends a clause (`,` `;`) ends it too, unless a bracket is still open (`CE(z, c)`);
    a word that opens a bracket it does not close (`(p_c`) is the first one.
    """
    left, depth = index, 0
    while left > floor:
        word = words[left - 1][2]
        if not (operand(word) or word in OPERATOR_WORDS):
            break
        if word.endswith(tuple(TRAILING)) and depth <= 0:
            break
        if plain_word(word) and left < index and words[left][2] not in OPERATOR_WORDS:
            break
        opened = word.count("(") + word.count("[") - word.count(")") - word.count("]")
        if opened > 0 and depth <= 0:
            if not plain_word(word.lstrip("([")):
                left -= 1
            break
        depth -= opened
        left -= 1
    return left


def inline_formulas(text):
    """Running text as [(kind, text)], kind "math" (LaTeX) or "text": its formulas found.

    A statement (`p_c = 1`, `dBCE/dz = σ(z) - p`, `out = γ_c (x - mean) / sqrt(var + eps)`) is
    a relation with notation on both sides, up to the words of the sentence; a symbol that can
    only be math (`ŷ_1`, `p_c`, `γ`, `x̂`, `e^z`) is math too, with what an operator joins to it
    (`e^z / (1 + e^z)`). Everything else stays text.
    """
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    spans, index, floor = [], 0, 0
    while index < len(words):
        word = words[index][2]
        first = last = None
        if word in RELATION_WORDS and index > floor:
            left = extend_left(words, index, floor)
            right = extend_right(words, index, text, words[left][0])
            comparison = word not in ("=", "<-")
            if left < index < right and not (
                comparison and left + 1 == index and plain_word(words[left][2])
            ):  # `an int >= 0`: a comparison of a word is the sentence's
                first, last = left, right
        elif MATH_ATOM.search(word) and operand(word):
            first = last = index
            while first > floor and words[first - 1][2] in OPERATOR_NAMES:
                first -= 1  # `log Σ_j e^(z_j)`, `max_j z_j`: the operator before the symbol
            while (
                first - 1 > floor
                and words[first - 1][2] in OPERATOR_WORDS - RELATION_WORDS
                and re.fullmatch(r"[A-Za-z]|\d+", words[first - 2][2])
            ):
                first -= 2  # `m + log Σ_j ...`: a symbol and an operator before it
            following = words[index + 1][2] if index + 1 < len(words) else ""
            if following not in RELATION_WORDS and not word.endswith(tuple(TRAILING)):
                last = extend_right(words, index, text, words[index][0])
                while last > first and words[last][2] in OPERATOR_WORDS:
                    last -= 1
        if first is None:
            index += 1
            continue
        while spans and spans[-1][0] >= words[first][0]:
            spans.pop()  # a symbol already taken is part of this statement
        while first < index and words[first][2] in OPERATOR_WORDS:
            first += 1  # a list's `- `, never a minus
        while last > first and words[last][2].rstrip(TRAILING) in OPERATOR_NAMES:
            last -= 1  # `out = max of the window`: the sentence goes on
        while last > first:
            start, end = trim(text[words[first][0] : words[last][1]])
            if balanced(text[words[first][0] + start : words[first][0] + end]):
                break
            last -= 1
        spans.append((words[first][0], words[last][1]))
        if first < index:  # a statement: the next one starts after it
            floor = max(last, index) + 1
        index = max(last, index) + 1
    pieces, position = [], 0
    for start, end in spans:
        offset, stop = trim(text[start:end])
        start, end = start + offset, start + stop
        if text[start : start + 1] == "(" and text[end - 1 : end] == ")":
            if balanced(text[start + 1 : end - 1]):
                start, end = start + 1, end - 1  # `(p_c)`: the brackets are the sentence's
                offset, stop = trim(text[start:end])
                start, end = start + offset, start + stop
        formula = text[start:end]
        if not balanced(formula) and " " not in formula and MATH_ATOM.search(formula):
            atom = MATH_ATOM.search(formula)  # `[sigmoid(p_c`: the symbol inside the word
            start, end = start + atom.start(), start + atom.end()
            formula = text[start:end]
        if end <= start or start < position or not balanced(formula):
            continue
        if not (MATH_ATOM.search(formula) or re.search(r"[=<>≈]", formula)):
            continue
        if formula.split()[-1] in OPERATOR_WORDS:
            continue
        pieces += [("text", text[position:start]), ("math", to_latex(formula))]
        position = end
    pieces.append(("text", text[position:]))
    return [(kind, piece) for kind, piece in pieces if piece]
