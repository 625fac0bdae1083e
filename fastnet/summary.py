"""The table :meth:`fastnet.Sequential.summary` prints: each layer's output shape and parameters, in the lectures' arithmetic."""

import numpy as np


def _short_count(n):
    """The lectures' shorthand, 4 digits: 614400 -> '0.6144M', 1327104 -> '1.327M', 4608 -> '4.608K'."""
    if n >= 1e5:
        return f"{n / 1e6:.4g}M"
    if n >= 1e3:
        return f"{n / 1e3:.4g}K"
    return str(n)


def _weight_formula(layer, in_shape, before_flatten):
    """(text, count) of a layer's weights (no biases) as the lectures write them, or ("", 0)."""
    name = type(layer).__name__
    weight = getattr(layer, "weight", None)
    if weight is None or name.startswith("BatchNorm"):
        return "", 0
    w = weight.value.shape
    if name.startswith("Conv"):      # (K, C, F...) -> (F x F x C) x K
        taps = "x".join(str(f) for f in w[2:])
        text = f"({taps}x{w[1]})x{w[0]}"
    elif name == "Dense" and before_flatten is not None and len(before_flatten) > 1:
        c, *spatial = before_flatten
        text = f"({'x'.join(str(s) for s in spatial)}x{c})x{w[0]}"
    else:
        text = f"{w[1]}x{w[0]}"
    count = int(np.prod(w))
    return f"{text} = {_short_count(count)}", count


class Summary(str):
    """What :meth:`Sequential.summary` returns: the table as a ``str``, plus its data.

    Attributes
    ----------
    rows : list of dict with "layer" (str), "output_shape" (tuple, one sample), "weights_formula"
        (str, e.g. "(5x5x96)x256 = 0.614M"), "weights" (int, without biases), "params" (int)
    total_params : int
    """

    def __new__(cls, title, rows, total_params):
        header = ("Layer", "Output shape", "Weights (lectures' arithmetic)", "Params")
        cells = [header] + [(r["layer"], str(("N",) + tuple(r["output_shape"])).replace("'", ""),
                             r["weights_formula"], f"{r['params']:,}") for r in rows]
        widths = [max(len(c[k]) for c in cells) for k in range(4)]
        rule = "-" * (sum(widths) + 6)

        def fmt(c):
            return f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]:>{widths[3]}}"

        lines = [title, rule, fmt(header), rule] + [fmt(c) for c in cells[1:]]
        lines += [rule, f"Total params: {total_params:,}"]
        self = super().__new__(cls, "\n".join(lines))
        self.title, self.rows, self.total_params, self._cells = title, rows, total_params, cells
        return self

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self):
        import html
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self._cells[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells[1:])
        return (f"<p>{html.escape(self.title)}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"<tfoot><tr><td colspan='4'>Total params: {self.total_params:,}</td></tr></tfoot></table>")
