"""Sphinx configuration for the fastnet docs: the API reference (autodoc + numpydoc) and the tutorial.

Build (offline; warnings are errors):  sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import warnings

# Documents the installed package (pip install -e ".[docs]"): fastnet.kernels exists only in an
# install, so the source tree is deliberately not put on sys.path.

project = "fastnet"
author = "the fastnet developers"
copyright = "2026, the fastnet developers"

import fastnet  # noqa: E402

version = release = fastnet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# Offline: no intersphinx, no remote images; mathjax is loaded by the browser, not at build time.
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "none"          # the signatures have no annotations; shapes live in the docstrings
autoclass_content = "class"
add_module_names = False

numpydoc_show_class_members = False  # autodoc's :members: lists them; avoids autosummary stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Neural networks on the CPU with JIT-compiled Numba kernels",
                      "fixed_sidebar": True}


# ---- "Shape" sections ---------------------------------------------------------------------------
# fastnet's docstrings follow PyTorch with a "Shape" section (the output-size formula). numpydoc
# knows no such section and would drop it with a warning, so before numpydoc parses a docstring
# the Shape block is moved into its Notes section (created if absent) under a "Shape" rubric.

def _section_starts(lines):
    starts = []
    for i in range(len(lines) - 1):
        title, rule = lines[i].strip(), lines[i + 1].strip()
        if title and len(rule) >= 3 and set(rule) == {"-"} and (i == 0 or not lines[i - 1].strip()):
            starts.append(i)
    return starts


def _shape_to_notes(app, what, name, obj, options, lines):
    starts = _section_starts(lines)
    titles = {lines[i].strip(): i for i in starts}
    if "Shape" not in titles:
        return
    begin = titles["Shape"]
    end = next((s for s in starts if s > begin), len(lines))
    block = [line for line in lines[begin + 2:end]]
    while block and not block[-1].strip():
        block.pop()
    del lines[begin:end]
    shape = ["", ".. rubric:: Shape", ""] + block + [""]
    starts = _section_starts(lines)
    notes = next((s for s in starts if lines[s].strip() == "Notes"), None)
    if notes is None:
        lines[begin:begin] = ["Notes", "-----"] + shape
    else:
        notes_end = next((s for s in starts if s > notes), len(lines))
        lines[notes_end:notes_end] = shape


# numpydoc also parses the raw docstring for signatures, before the hook above has run, and warns
# there about the Shape section; the rendered text keeps it (through the hook), so that one warning
# is silenced.
warnings.filterwarnings("ignore", message="Unknown section Shape", category=UserWarning)


def setup(app):
    app.connect("autodoc-process-docstring", _shape_to_notes, priority=100)   # numpydoc runs at 500
