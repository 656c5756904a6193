#!/usr/bin/env python3
"""Rewrites the tool-python entries of core/protocol/mirothinker-tools.json from a MiroThinker checkout.

Usage: python3 scripts/protocol/tool-python.py /path/to/MiroThinker

MiroThinker's tool-python server (libs/miroflow-tools/src/miroflow_tools/mcp_servers/
python_mcp_server.py) is served by the standalone `fastmcp` package, 2.10.1 in
apps/miroflow-agent/uv.lock, not by the MCP SDK's FastMCP as the search servers are. fastmcp
2.10.1 lists a function tool (fastmcp/tools/tool.py, ParsedFunction.from_function) with:

- description: inspect.getdoc(fn), the docstring dedented and stripped (inspect.cleandoc);
- inputSchema: pydantic's TypeAdapter(fn).json_schema() (a function's arguments schema: no
  top-level title, a title per argument, keys sorted) passed through compress_schema, which drops
  `additionalProperties: false`;
- outputSchema: for a `-> str` function, the schema of `_WrappedResult[str]` with
  `"x-fastmcp-wrap-result": true`; each call then also answers structuredContent {"result": text}.

This script reads the server's source with `ast` (it imports neither fastmcp nor e2b) and applies
those rules to the checkout's HEAD and to the v1.0 release commit. When pydantic 2 is importable it
also builds each function's signature and checks the input schema against TypeAdapter itself.
Only the tool-python entry of the JSON file changes; the other servers' entries are kept as they are.
"""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

SERVER_PATH = "libs/miroflow-tools/src/miroflow_tools/mcp_servers/python_mcp_server.py"
LOCK_PATH = "apps/miroflow-agent/uv.lock"
# "Release MiroThinker v1.0 (#47)"
V1_0_COMMIT = "f745722bce17a7776eb906bc0902b88a85c65e13"
FASTMCP = "2.10.1"
TARGET = Path(__file__).resolve().parents[2] / "core" / "protocol" / "mirothinker-tools.json"

# pydantic's JSON schema of an annotation; a missing annotation is Any, which has no schema keys.
TYPES = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"}, "bool": {"type": "boolean"}, None: {}}
OUTPUT_SCHEMAS = {
    "str": {
        "properties": {"result": {"title": "Result", "type": "string"}},
        "required": ["result"],
        "title": "_WrappedResult",
        "type": "object",
        "x-fastmcp-wrap-result": True,
    }
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def locked_version(lock: str, package: str) -> str:
    match = re.search(rf'^name = "{re.escape(package)}"\nversion = "([^"]+)"', lock, re.M)
    if not match:
        sys.exit(f"{LOCK_PATH} locks no {package}")
    return match.group(1)


def module_constants(tree: ast.Module) -> dict:
    """Module-level NAME = <literal> assignments, for defaults written as a constant's name."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return found


def is_tool(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "tool" for d in node.decorator_list
    )


def annotation_name(node: ast.expr | None, where: str) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Name) and node.id in TYPES:
        return node.id
    sys.exit(f"{where}: annotation {ast.unparse(node)} has no rule here; add pydantic's schema for it to TYPES")


def sort_keys(value, parent=None):
    """pydantic's GenerateJsonSchema.sort: keys sorted, except under 'properties' and 'default'."""
    if isinstance(value, dict):
        keys = value if parent in ("properties", "default") else sorted(value)
        return {key: sort_keys(value[key], key) for key in keys}
    if isinstance(value, list):
        return [sort_keys(item, parent) for item in value]
    return value


def input_schema(fn: ast.FunctionDef, constants: dict) -> dict:
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        sys.exit(f"{fn.name}: only plain parameters are supported")
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    properties, required = {}, []
    for arg, default in zip(args.args, defaults):
        schema = dict(TYPES[annotation_name(arg.annotation, f"{fn.name}({arg.arg})")])
        if default is None:
            required.append(arg.arg)
        else:
            schema["default"] = constants[default.id] if isinstance(default, ast.Name) else ast.literal_eval(default)
        schema["title"] = arg.arg.title().replace("_", " ").strip()
        properties[arg.arg] = schema
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return sort_keys(schema)


def pydantic_schema(fn: ast.FunctionDef, constants: dict):
    """TypeAdapter(fn).json_schema() of a stub with fn's signature, as fastmcp compresses it; None without pydantic 2."""
    try:
        import pydantic
        from pydantic import TypeAdapter
    except ImportError:
        return None
    if not pydantic.VERSION.startswith("2."):
        return None
    stub = ast.FunctionDef(name=fn.name, args=fn.args, body=[ast.Pass()], decorator_list=[], returns=fn.returns, type_params=[])
    namespace = dict(constants)
    exec(compile(ast.fix_missing_locations(ast.Module(body=[stub], type_ignores=[])), fn.name, "exec"), namespace)
    schema = TypeAdapter(namespace[fn.name]).json_schema()
    if schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    return schema


def tools_at(source: str, where: str) -> tuple:
    """The listing of the server in `source`, and whether pydantic checked its input schemas."""
    tree = ast.parse(source)
    constants = module_constants(tree)
    tools, checked_all = [], True
    for fn in (node for node in tree.body if is_tool(node)):
        schema = input_schema(fn, constants)
        checked = pydantic_schema(fn, constants)
        checked_all = checked_all and checked is not None
        if checked is not None and json.dumps(checked) != json.dumps(schema):
            sys.exit(f"{where} {fn.name}: pydantic gives {json.dumps(checked)}, the rules here {json.dumps(schema)}")
        returns = annotation_name(fn.returns, f"{fn.name} return")
        if returns not in OUTPUT_SCHEMAS:
            sys.exit(f"{where} {fn.name}: no output schema rule for -> {returns}")
        tools.append(
            {
                "name": fn.name,
                "description": ast.get_docstring(fn, clean=True),
                "inputSchema": schema,
                "outputSchema": OUTPUT_SCHEMAS[returns],
            }
        )
    return tools, checked_all


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = Path(sys.argv[1])
    head = git(repo, "rev-parse", "HEAD").strip()
    for commit in (head, V1_0_COMMIT):
        version = locked_version(git(repo, "show", f"{commit}:{LOCK_PATH}"), "fastmcp")
        if version != FASTMCP:
            sys.exit(f"{commit[:7]} locks fastmcp {version}: check its rendering rules and update this script")
    latest, checked_latest = tools_at(git(repo, "show", f"{head}:{SERVER_PATH}"), head[:7])
    v1_0, checked_v1_0 = tools_at(git(repo, "show", f"{V1_0_COMMIT}:{SERVER_PATH}"), V1_0_COMMIT[:7])
    if [tool["name"] for tool in v1_0] != [tool["name"] for tool in latest]:
        sys.exit("v1.0 and HEAD list different tools: the releases entry cannot express that")
    entry = {
        "server": "tool-python",
        "source": {
            "repository": "https://github.com/MiroMindAI/MiroThinker",
            "commit": head,
            "path": SERVER_PATH,
            "fastmcp": FASTMCP,
            "rendering": "description = inspect.getdoc(fn); inputSchema = pydantic TypeAdapter(fn).json_schema() without additionalProperties: false; outputSchema = _WrappedResult[str]",
            "generator": "scripts/protocol/tool-python.py",
        },
        "tools": latest,
        "releases": {
            "v1.0": {
                "commit": V1_0_COMMIT,
                "note": "the tools whose listing differed at the v1.0 release; the others were as above",
                "tools": [old for old, new in zip(v1_0, latest) if old != new],
            }
        },
    }
    data = json.loads(TARGET.read_text(encoding="utf-8"))
    servers = data["servers"]
    index = next(i for i, server in enumerate(servers) if server["server"] == "tool-python")
    servers[index] = entry
    TARGET.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    changed = ", ".join(tool["name"] for tool in entry["releases"]["v1.0"]["tools"]) or "none"
    print(f"tool-python: {len(latest)} tools at {head[:7]}; differing at v1.0: {changed}")
    if checked_latest and checked_v1_0:
        import pydantic

        print(f"input schemas checked against pydantic {pydantic.VERSION}'s TypeAdapter")
    else:
        print("pydantic 2 is not importable here: input schemas follow the rules above unchecked")


if __name__ == "__main__":
    main()
