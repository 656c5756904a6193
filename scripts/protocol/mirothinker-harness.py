#!/usr/bin/env python3
"""Generates core/protocol/mirothinker-harness.json from a MiroThinker checkout.

Usage: python3 scripts/protocol/mirothinker-harness.py /path/to/MiroThinker

MiroThinker (MiroMindAI/MiroThinker, Apache-2.0) evaluates each released model under a named agent
config. This script reads those settings where MiroThinker keeps them, so that Fathom's agent runs
each model the way its authors ran it:

- agent configs: apps/miroflow-agent/conf/agent/<name>.yaml, merged over their Hydra `defaults`
  (conf/agent/default.yaml); `retry_with_summary` defaults to true as in answer_generator.py;
- sampling and length: apps/miroflow-agent/conf/llm/qwen-3.yaml over conf/llm/default.yaml (the
  `llm=qwen-3` every MiroThinker run script passes);
- loop limits: module constants of apps/miroflow-agent/src/core/orchestrator.py and
  answer_generator.py;
- banned result URLs: `_is_banned_url` in
  libs/miroflow-tools/src/miroflow_tools/dev_mcp_servers/search_and_scrape_webpage.py.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import yaml

AGENT_CONFIGS = [
    "mirothinker_v1.0",
    "mirothinker_v1.0_keep5",
    "mirothinker_v1.5",
    "mirothinker_v1.5_keep5_max200",
    "mirothinker_v1.5_keep5_max400",
    "mirothinker_1.7_keep5_max200",
    "mirothinker_1.7_keep5_max300",
]

AGENT_DIR = "apps/miroflow-agent/conf/agent"
LLM_DIR = "apps/miroflow-agent/conf/llm"
ORCHESTRATOR = "apps/miroflow-agent/src/core/orchestrator.py"
ANSWER_GENERATOR = "apps/miroflow-agent/src/core/answer_generator.py"
SEARCH_SERVER = "libs/miroflow-tools/src/miroflow_tools/dev_mcp_servers/search_and_scrape_webpage.py"


def merged(folder: Path, name: str) -> dict:
    """A Hydra config with its `defaults` list applied (`_self_` last, as these files write it)."""
    data = yaml.safe_load((folder / f"{name}.yaml").read_text()) or {}
    result: dict = {}
    for entry in data.pop("defaults", []):
        if entry != "_self_":
            result = deep_merge(result, merged(folder, entry))
    return deep_merge(result, data)


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def constants(path: Path, names: list) -> dict:
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in names:
                found[node.targets[0].id] = ast.literal_eval(node.value)
    missing = set(names) - set(found)
    if missing:
        sys.exit(f"{path}: no constant {', '.join(sorted(missing))}")
    return found


def banned_urls(path: Path) -> list:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "_is_banned_url":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Assign) and getattr(inner.targets[0], "id", None) == "banned_list":
                    return ast.literal_eval(inner.value)
    sys.exit(f"{path}: no banned_list in _is_banned_url")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = Path(sys.argv[1])
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()

    configs = {}
    for name in AGENT_CONFIGS:
        cfg = merged(repo / AGENT_DIR, name)
        main_agent = cfg["main_agent"]
        configs[name] = {
            "maxTurns": main_agent["max_turns"],
            "keepToolResult": cfg["keep_tool_result"],
            "contextCompressLimit": cfg.get("context_compress_limit", 0),
            "retryWithSummary": cfg.get("retry_with_summary", True),
            "tools": main_agent["tools"],
            "toolBlacklist": [list(pair) for pair in main_agent.get("tool_blacklist", [])],
        }

    llm = merged(repo / LLM_DIR, "qwen-3")
    loop = constants(repo / ORCHESTRATOR, ["DEFAULT_MAX_CONSECUTIVE_ROLLBACKS", "EXTRA_ATTEMPTS_BUFFER"])
    answers = constants(repo / ANSWER_GENERATOR, ["DEFAULT_MAX_FINAL_ANSWER_RETRIES"])

    out = {
        "source": {
            "repository": "https://github.com/MiroMindAI/MiroThinker",
            "commit": commit,
            "agentConfigs": f"{AGENT_DIR}/<name>.yaml over {AGENT_DIR}/default.yaml",
            "llm": f"{LLM_DIR}/qwen-3.yaml over {LLM_DIR}/default.yaml",
            "limits": [ORCHESTRATOR, ANSWER_GENERATOR],
            "bannedUrlSubstrings": f"{SEARCH_SERVER} (_is_banned_url)",
            "generator": "scripts/protocol/mirothinker-harness.py",
        },
        "agentConfigs": configs,
        "llm": {
            "temperature": llm["temperature"],
            "topP": llm["top_p"],
            "maxTokens": llm["max_tokens"],
            "contextTokens": llm["max_context_length"],
            "repetitionPenalty": llm["repetition_penalty"],
        },
        "limits": {
            "maxConsecutiveRollbacks": loop["DEFAULT_MAX_CONSECUTIVE_ROLLBACKS"],
            "extraAttemptsBuffer": loop["EXTRA_ATTEMPTS_BUFFER"],
            "finalAnswerRetriesKeepAll": answers["DEFAULT_MAX_FINAL_ANSWER_RETRIES"],
            "finalAnswerRetries": 1,
        },
        "bannedUrlSubstrings": banned_urls(repo / SEARCH_SERVER),
    }
    target = Path(__file__).resolve().parents[2] / "core/protocol/mirothinker-harness.json"
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
