"""Exporting a trained adapter: the PEFT folder names the hub base; the merged model, loaded
back as ``local:DIR``, answers exactly as the adapter does in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from tests.conftest import WriteFiles


@pytest.mark.slow
def test_peft_and_merged_exports_serve_the_trained_adapter(
    tmp_path: Path, write: WriteFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness import run
    from harness.finetune.export import EMBEDDED_HUB_ID, export_adapter
    from harness.finetune.lora import LoraConfig, train_lora
    from tests.conftest import run_cli

    home = tmp_path / "home"
    examples = [
        {
            "messages": [
                {"role": "system", "content": "ISO date only."},
                {"role": "user", "content": f"March {i + 1}, 2001"},
                {"role": "assistant", "content": f"2001-03-{i + 1:02d}"},
            ]
        }
        for i in range(8)
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in examples))
    train_lora(data, LoraConfig(name="tiny", epochs=1, batch_size=4), home=home)

    peft = export_adapter("tiny", "peft", tmp_path / "peft", home=home)
    config = json.loads((peft.path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == EMBEDDED_HUB_ID
    assert (peft.path / "adapter_model.safetensors").exists()
    assert peft.serve.startswith(f"vllm serve {EMBEDDED_HUB_ID} --enable-lora --lora-modules tiny=")
    assert json.loads((peft.path / "harness.json").read_text())["exported_from"] == "tiny"
    # -o must name a folder: a file there, or a folder with something in it, is refused
    (tmp_path / "a-file").write_text("kept")
    for taken in (tmp_path / "a-file", peft.path):
        args = ["finetune", "export", "tiny", "--format", "peft", "-o", str(taken)]
        code, _, err = run_cli([*args, "--home", str(home)], capsys)
        assert code == 2 and "Traceback" not in err and str(taken) in err, err
    assert (tmp_path / "a-file").read_text() == "kept"

    code, out, _ = run_cli(
        [
            "finetune",
            "export",
            "tiny",
            "--format",
            "merged",
            "-o",
            str(tmp_path / "merged"),
            "--home",
            str(home),
        ],
        capsys,
    )
    assert code == 0 and "serve it with: vllm serve" in out and "local:" in out
    assert (tmp_path / "merged" / "model.safetensors").exists()

    path = write(
        {
            "e.yaml": f"""
            name: export-check
            models: [local:smollm2+tiny, "local:{tmp_path / "merged"}"]
            params: {{temperature: 0, max_tokens: 12}}
            prompts: [{{id: terse, system: "ISO date only.", user: "{{{{ input }}}}"}}]
            tests:
              items:
                - {{id: a, input: "April 2, 1999", expected: "1999-04-02"}}
                - {{id: b, input: "June 30, 2010", expected: "2010-06-30"}}
                - {{id: c, input: "May 5, 2001", expected: "2001-05-05"}}
              assert: [{{equals: "{{{{ expected }}}}"}}]
            """,
        }
    )
    result = run(path, home=home, progress=False, allow_python=False)
    by_model: dict[str, list[str | None]] = {}
    for r in sorted(result.results, key=lambda r: r.case):
        by_model.setdefault(r.variant.split("/", 2)[-1], []).append(r.output)
    adapter, merged = by_model.values()
    assert adapter == merged and all(adapter)

    with pytest.raises(HarnessError, match="not empty"):
        export_adapter("tiny", "peft", tmp_path / "merged", home=home)
    with pytest.raises(HarnessError, match="no trained adapter 'nope'"):
        export_adapter("nope", "peft", tmp_path / "x", home=home)
