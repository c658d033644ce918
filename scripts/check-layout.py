#!/usr/bin/env python3
"""Checks the shape of the code base that rustc and clippy do not check.

1. No source file over 600 lines outside tests, unless ARCHITECTURE.md's "Long files" section
   names it with a reason.
2. No import cycle between the modules of a crate: for every module, its child modules must not
   use each other in a circle (`a` uses `b`, `b` uses `a`, directly or through other siblings).
   A module using its own parent or children does not count: a `mod.rs` re-exports its children.
3. Every top-level module of every crate is named in its crate root's doc comment and in
   ARCHITECTURE.md.

The module tree is read the way rustc finds it: from each crate root (`lib.rs`, `main.rs`,
`bin/*.rs`, integration-test roots), following `mod name;` (and `#[path]`). Uses are the paths in
`use` trees and in code that start with `crate::`, `super::` or `self::`. Test-only modules
(`#[cfg(test)] mod x;`, and `#[cfg(test)] mod tests { .. }` at the end of a file) are skipped.

`python3 scripts/check-layout.py` checks; `--tree` also prints every crate's module tree with the
modules each one uses (the map that ARCHITECTURE.md describes).
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 600
CRATE_DIRS = ["shared", "worker", "manager", "tests"]

MOD_DECL = re.compile(
    r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;"
)
USE_STMT = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);", re.S)
INLINE_PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def strip_comments_and_strings(text):
    """Removes comments, string and char literals (keeps line structure)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        elif c == "'" and re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12]):
            m = re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def cut_test_module(code):
    """Drops an inline `#[cfg(test)] mod NAME { ... }` block (the usual unit-test module)."""
    m = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{", code)
    if not m:
        return code
    depth, i = 0, m.end() - 1
    while i < len(code):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return code[: m.start()] + cut_test_module(code[i + 1:])
        i += 1
    return code[: m.start()]


def expand_use_tree(tree):
    """`crate::{a::{b, c}, d}` -> ["crate::a::b", "crate::a::c", "crate::d"]."""
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def expand(prefix, s):
        brace = s.find("{")
        if brace < 0:
            s = re.sub(r"as\w+$", "", s) if "as" in s and "::" not in s[-4:] else s
            return [prefix + s]
        head = s[:brace]
        inner = s[brace + 1: s.rfind("}")]
        result = []
        for part in split_top(inner):
            result.extend(expand(prefix + head, part))
        return result

    return expand("", tree)


class Module:
    def __init__(self, path, file, test_only):
        self.path = path  # tuple of names, () for the crate root
        self.file = file
        self.test_only = test_only
        self.uses = set()  # tuples of module paths this module uses


def child_dir(file, is_root):
    if is_root or file.name == "mod.rs":
        return file.parent
    return file.parent / file.stem


def walk_crate(root_file):
    modules = {}

    def visit(path, file, test_only, is_root):
        modules[path] = Module(path, file, test_only)
        text = strip_comments_and_strings(file.read_text(encoding="utf-8"))
        for m in MOD_DECL.finditer(text):
            attrs, name = m.group(1), m.group(2)
            explicit = re.search(r'#\[path\s*=\s*""\]', attrs)
            raw_attrs = file.read_text(encoding="utf-8")
            base = child_dir(file, is_root)
            target = None
            if explicit:
                pm = re.search(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+' + name + r"\s*;", raw_attrs)
                if pm:
                    target = (file.parent / pm.group(1)).resolve()
            if target is None:
                for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                    if cand.exists():
                        target = cand
                        break
            if target is None:
                continue
            is_test = test_only or "cfg(test)" in attrs
            visit(path + (name,), target, is_test, False)

    visit((), root_file, False, True)
    return modules


def resolve(modules, here, raw):
    """The module that path `raw` (as written in module `here`) names, or None."""
    parts = raw.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        base = here
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        rest = parts
    else:
        return None
    best = base
    cur = base
    for name in rest:
        cur = cur + (name,)
        if cur in modules:
            best = cur
        else:
            break
    return best


def collect_uses(modules):
    for mod in modules.values():
        text = strip_comments_and_strings(mod.file.read_text(encoding="utf-8"))
        text = cut_test_module(text)
        # Drop nested `mod name;` lines so they are not read as paths.
        raws = []
        for m in USE_STMT.finditer(text):
            raws.extend(expand_use_tree(m.group(1)))
        for m in INLINE_PATH.finditer(text):
            raws.append(m.group(1) + m.group(2))
        for raw in raws:
            target = resolve(modules, mod.path, raw)
            if target is not None and target != mod.path:
                mod.uses.add(target)


def sibling_edges(modules):
    """Edges between siblings: for a use a -> b, the children of their lowest common ancestor
    that contain a and b. Uses between ancestor and descendant are not edges."""
    edges = {}
    for mod in modules.values():
        if mod.test_only:
            continue
        for target in mod.uses:
            if modules.get(target) and modules[target].test_only:
                continue
            a, b = mod.path, target
            k = 0
            while k < min(len(a), len(b)) and a[k] == b[k]:
                k += 1
            if k == len(a) or k == len(b):
                continue  # ancestor or descendant
            parent = a[:k]
            edges.setdefault(parent, {}).setdefault(a[k], {}).setdefault(b[k], set()).add(
                ("::".join(a) or "crate", "::".join(b) or "crate")
            )
    return edges


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, result = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strong(v)
    return result


def crate_roots(crate_dir):
    roots = []
    for name in ("src/lib.rs", "src/main.rs"):
        p = crate_dir / name
        if p.exists():
            roots.append(p)
    roots.extend(sorted((crate_dir / "src" / "bin").glob("*.rs")))
    for sub in ("tests", "e2e", "benches"):
        for p in sorted((crate_dir / sub).glob("*.rs")) if (crate_dir / sub).is_dir() else []:
            roots.append(p)
        for p in sorted((crate_dir / sub).glob("*/main.rs")) if (crate_dir / sub).is_dir() else []:
            roots.append(p)
    if crate_dir.name == "tests":
        roots.append(crate_dir / "fuzz_regressions.rs")
    return [r for r in roots if r.exists()]


def long_file_exceptions():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    m = re.search(r"^#+ Long files\n(.*?)(?=^#)", text + "\n#", re.S | re.M)
    if not m:
        return {}
    found = {}
    for line in m.group(1).splitlines():
        lm = re.match(r"- `([^`]+)`[^:]*:\s*(.+)", line)
        if lm:
            found[lm.group(1)] = lm.group(2).strip()
    return found


def main():
    show_tree = "--tree" in sys.argv
    problems = []
    exceptions = long_file_exceptions()
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    seen_files = set()
    for crate in CRATE_DIRS:
        crate_dir = ROOT / crate
        for root in crate_roots(crate_dir):
            modules = walk_crate(root)
            collect_uses(modules)
            rel_root = root.relative_to(ROOT)
            for mod in modules.values():
                rel = str(mod.file.relative_to(ROOT))
                if rel in seen_files:
                    continue
                seen_files.add(rel)
                lines = mod.file.read_text(encoding="utf-8").count("\n")
                is_test_code = mod.test_only or crate == "tests" or "/tests/" in f"/{rel}" or "/benches/" in rel
                if lines > LIMIT and not is_test_code and rel not in exceptions:
                    problems.append(
                        f"{rel}: {lines} lines (over {LIMIT}); split it, or name it with a reason "
                        f"under ARCHITECTURE.md's 'Long files'"
                    )
            for parent, graph in sibling_edges(modules).items():
                for cycle in find_cycles(graph):
                    where = "::".join(parent) or "crate root"
                    detail = []
                    for a in cycle:
                        for b in cycle:
                            for src, dst in sorted(graph.get(a, {}).get(b, ())):
                                detail.append(f"{src} uses {dst}")
                    problems.append(
                        f"{rel_root}: import cycle among the modules of {where}: "
                        + " <-> ".join(cycle)
                        + " (" + "; ".join(detail[:8]) + ")"
                    )
            if root.name in ("lib.rs",) and crate in ("shared", "worker", "manager"):
                doc = "\n".join(
                    line for line in root.read_text(encoding="utf-8").splitlines() if line.startswith("//!")
                )
                for path, mod in modules.items():
                    if len(path) != 1 or mod.test_only:
                        continue
                    name = path[0]
                    if not re.search(r"`" + name + r"(`|::)", doc):
                        problems.append(f"{rel_root}: module `{name}` is not in the crate's Layout doc comment")
                    if not re.search(r"`(?:[a-z_]+::)*" + name + r"(`|::|\b)", architecture):
                        problems.append(f"ARCHITECTURE.md does not name `{name}` ({crate})")
            if show_tree:
                print(f"\n{rel_root}")
                for path in sorted(modules):
                    mod = modules[path]
                    if not path:
                        continue
                    uses = sorted("::".join(u) or "crate" for u in mod.uses if u and u[: len(path)] != path)
                    tag = " (test)" if mod.test_only else ""
                    print("  " * len(path) + path[-1] + tag + (" -> " + ", ".join(uses) if uses else ""))
    if problems:
        for p in problems:
            print(f"check-layout: {p}")
        print(f"check-layout: {len(problems)} problem(s)")
        return 1
    print("check-layout: file sizes, module cycles and the module maps are in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
