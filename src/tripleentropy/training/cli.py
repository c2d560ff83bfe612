"""The ``train``, ``evaluate`` and ``predict`` commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Collection
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

from ..cli_help import add_command
from ..data import Example, add_column_arguments, add_data_dir_argument, get_task, load_file, load_task, read_lines
from ..data.cli import argument_type
from ..errors import UserError
from ..outputs import check_output_dir, check_output_file, write_bytes_atomic
from .config import FLAG_GROUPS, TrainConfig

_TYPES = {"int": int, "float": float, "str": str}
_DATA_FIELDS = ("data_dir", "text_column", "text_pair_column", "label_column")


def field_type(annotation: str):
    for part in str(annotation).split("|"):
        part = part.strip()
        if part in _TYPES:
            return _TYPES[part]
    return str


def flag_help(item: Field) -> str:
    """The ``--help`` text of a ``TrainConfig`` field's flag: its help and, unless the help already
    says it or the field is unset by default (None), its default (escaped for argparse)."""
    help_text = item.metadata["help"]
    if item.default is not None and item.default is not MISSING and "default" not in help_text.lower():
        help_text = f"{help_text} (default: {item.default})"
    return help_text.replace("%", "%%")


def _add_config_flags(
    parser: argparse.ArgumentParser, skip: Collection[str] = (), required: Collection[str] = ()
) -> dict[str, argparse._ArgumentGroup]:
    """One flag per ``TrainConfig`` field that fine-tuning reads (less those in ``skip``; those in
    ``required`` must be given), in the argument group its metadata names; unset flags stay absent
    so a --config file shows through. Returns the groups (``FLAG_GROUPS``) by title, for the
    command's own flags."""
    groups = {title: parser.add_argument_group(title) for title in FLAG_GROUPS}
    for item in fields(TrainConfig):
        if not item.metadata.get("cli", True) or not item.metadata.get("train", True) or item.name in skip:
            continue
        group = groups[item.metadata["group"]]
        flag = "--" + item.name.replace("_", "-")
        help_text = flag_help(item)
        if str(item.type) == "bool":
            group.add_argument(
                flag, dest=item.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
            continue
        parse = item.metadata.get("parse")
        kind = argument_type(parse) if parse else field_type(item.type)
        metavar = item.metadata.get("metavar") or ("FILE" if item.name in ("train", "validation") else item.name.upper())
        group.add_argument(
            flag,
            dest=item.name,
            type=kind,
            choices=item.metadata.get("choices"),
            default=argparse.SUPPRESS,
            required=item.name in required,
            metavar=None if item.metadata.get("choices") else metavar,
            help=help_text,
        )
    return groups


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then the ``--config`` file, then the flags given on the command line."""
    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    given: dict[str, Any] = {}
    defaults = TrainConfig()
    for name in TrainConfig.field_names():
        if name in _DATA_FIELDS:
            value = getattr(args, name, None)
            if value is not None and value != getattr(defaults, name):
                given[name] = value
        elif hasattr(args, name):
            given[name] = getattr(args, name)
    return TrainConfig.from_dict(given, base=config).validate()


def register_train(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "train",
        help="fine-tune an encoder with TripleEntropy (or cross-entropy, or SupCon)",
        description=(
            "Fine-tune a Hugging Face encoder for text classification and save it as a plain Hugging "
            "Face model directory (plus the SoftTriple centers). Settings come from the defaults, "
            "then --config FILE, then the flags given here. Runs on CPU, one GPU, or many processes "
            "under torchrun / accelerate launch."
        ),
        examples=[
            "tripleentropy train --train train.csv --validation dev.csv --output-dir models/mine",
            "tripleentropy train --task SST2 --train-size 16/class --loss ce --output-dir models/sst2-ce",
            "tripleentropy train --train my.csv --text-column review --label-column stars --output-dir models/my",
        ],
        docs="docs/guide.md",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of settings (keys are the flag names)")
    data = _add_config_flags(parser, required={"output_dir"})["data"]
    add_data_dir_argument(data)
    add_column_arguments(data)
    parser.set_defaults(handler=_train, validate=validate_train)


def validate_train(args: argparse.Namespace) -> TrainConfig:
    """Everything ``train`` checks before it reads data or loads a model: the settings, where
    the data comes from, the output directory and the model name. Returns the configuration."""
    from ..experiments.store import holds_comparison
    from ..modeling import resolve_model
    from .api import check_data_source

    config = config_from_args(args)
    check_data_source(config)
    if not config.output_dir:
        raise UserError("--output-dir is empty: name the folder where the trained model is saved")
    check_output_dir(config.output_dir)
    if holds_comparison(config.output_dir):
        raise UserError(
            f"--output-dir {config.output_dir} holds a comparison (its runs/*.json or summary.json, from compare "
            "or reproduce): choose another --output-dir for the model"
        )
    resolve_model(config.model)
    return config


def _train(args: argparse.Namespace) -> int:
    from .api import load_training_data, train_model

    config = validate_train(args)
    train, validation = load_training_data(config)
    started = time.perf_counter()
    result = train_model(config, train, validation, output_dir=config.output_dir)
    if _is_main_process():
        seconds = time.perf_counter() - started
        print(f"trained on {len(train)} examples in {seconds:.0f} s; saved to {config.output_dir}")
        if result.metrics is not None:
            print(_format_metrics(result.metrics, f"validation ({validation.source})"))
    return 0


def _is_main_process() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


# ---- evaluate ------------------------------------------------------------------------------


def _check_model_dir(model_dir: str) -> None:
    directory = Path(model_dir)
    if not directory.is_dir():
        raise UserError(f"--model-dir {model_dir}: model directory {model_dir} does not exist")
    if not (directory / "config.json").is_file():
        raise UserError(f"--model-dir {model_dir}: no config.json there; pass a directory written by 'train'")


def _check_input_file(path: str, flag: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{flag} {path}: no such file")


def _check_batch_size(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")


def _load_model(model_dir: str):
    from ..modeling import TripleEntropyForSequenceClassification, load_tokenizer

    directory = Path(model_dir)
    model = TripleEntropyForSequenceClassification.from_pretrained(directory)
    model.eval()
    return model, load_tokenizer(str(directory))


def _max_length(model_dir: str, tokenizer) -> int:
    from .api import read_run_config

    saved = read_run_config(model_dir).get("config", {}).get("max_length")
    if saved:
        return int(saved)
    limit = getattr(tokenizer, "model_max_length", 512) or 512
    return int(min(limit, 512))


def _label_names(model) -> list[str]:
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        help="accuracy and F1 of a trained model on labelled data",
        description="Accuracy, macro F1, per-class F1 and the number of examples of a trained model, beside the "
                    "data's majority-class rate (the accuracy of always predicting its most frequent class, "
                    "'majority_rate'); for MRPC also the F1 of the paraphrase class (the measure the literature "
                    "reports), as 'f1'.",
        examples=[
            "tripleentropy evaluate --model-dir models/mine --data test.csv",
            "tripleentropy evaluate --model-dir models/sst2-ce --task SST2 --json",
        ],
        docs="docs/guide.md",
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="a directory written by 'train'")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", metavar="NAME", help="a SentEval task: evaluates its test split (see --split)")
    source.add_argument("--data", metavar="FILE", help="a labelled CSV, TSV or JSON Lines file")
    parser.add_argument(
        "--split", metavar="SPLIT", help="split of --task to evaluate (default: test, else validation)"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="evaluation batch size (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_data_dir_argument(parser)
    add_column_arguments(parser)
    parser.set_defaults(handler=_evaluate, validate=validate_evaluate)


def validate_evaluate(args: argparse.Namespace) -> None:
    """What ``evaluate`` checks before it loads the model: the batch size, the model directory,
    and the data it names (a known task, or an existing file)."""
    _check_batch_size(args)
    _check_model_dir(args.model_dir)
    if args.data:
        _check_input_file(args.data, "--data")
    else:
        get_task(args.task)


def _evaluation_data(args: argparse.Namespace, label_names: list[str]):
    if args.data:
        return load_file(
            args.data, args.text_column, args.text_pair_column, args.label_column, label_names=label_names
        )
    task = get_task(args.task)
    splits = load_task(task.name, args.data_dir)
    split = args.split or ("test" if "test" in splits else "validation" if "validation" in splits else None)
    if split is None:
        raise UserError(
            f"task {task.name} has no test or validation split (it is evaluated by 10-fold "
            f"cross-validation): pass --split train or --data FILE"
        )
    if split not in splits:
        raise UserError(f"task {task.name} has no split {split!r}; it has {', '.join(splits)}")
    data = splits[split]
    if list(data.label_names) != label_names:
        raise UserError(
            f"the model's labels {label_names} differ from task {task.name}'s labels {list(data.label_names)}"
        )
    return data


def _format_metrics(metrics: dict, source: str) -> str:
    """``classification_metrics`` as lines for the terminal: accuracy beside the majority-class
    rate, the F1 measures, in points."""
    lines = [f"{source}: {metrics['num_examples']} examples", f"  accuracy  {100 * metrics['accuracy']:.2f}%",
             f"  majority  {100 * metrics['majority_rate']:.2f}%  (always predicting the most frequent class)"]
    if "f1" in metrics:
        lines.append(f"  F1        {100 * metrics['f1']:.2f}  (of the {metrics['positive_label']} class)")
    lines.append(f"  macro F1  {100 * metrics['macro_f1']:.2f}")
    lines += [f"  F1 {name:<10} {100 * value:.2f}" for name, value in metrics["per_class_f1"].items()]
    return "\n".join(lines)


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_model

    validate_evaluate(args)
    model, tokenizer = _load_model(args.model_dir)
    names = _label_names(model)
    data = _evaluation_data(args, names)
    positive = get_task(args.task).positive_label if args.task else None
    metrics = evaluate_model(
        model, tokenizer, data.examples, args.batch_size, names, _max_length(args.model_dir, tokenizer), progress=True,
        positive_label=positive,
    )
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(_format_metrics(metrics, data.source))
    return 0


# ---- predict -------------------------------------------------------------------------------


def register_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "predict",
        help="label new text with a trained model (JSON Lines out)",
        description=(
            "Predict the label of each input example and write JSON Lines: the text, the predicted "
            "label name ('label') and its probability ('score'). The input is a CSV, TSV or JSON Lines "
            "file (a label column, if present, is ignored), or plain text with one example per line "
            "(a .txt file, or - for standard input)."
        ),
        examples=[
            "tripleentropy predict --model-dir models/mine --input new.csv --output predictions.jsonl",
            "tripleentropy predict --model-dir models/mine --input new.txt",
        ],
        docs="docs/guide.md",
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="a directory written by 'train'")
    parser.add_argument("--input", required=True, metavar="FILE", help="input file, or - for standard input")
    parser.add_argument("--output", metavar="FILE", help="write the JSON Lines here (default: standard output)")
    parser.add_argument("--batch-size", type=int, default=128, help="prediction batch size (default: %(default)s)")
    add_column_arguments(parser)
    parser.set_defaults(handler=_predict, validate=validate_predict)


def validate_predict(args: argparse.Namespace) -> None:
    """What ``predict`` checks before it loads the model: the batch size, the model directory,
    the input and where the output goes."""
    _check_batch_size(args)
    _check_model_dir(args.model_dir)
    if args.input != "-":
        _check_input_file(args.input, "--input")
    if args.output:
        check_output_file(args.output)


def _read_input(args: argparse.Namespace) -> list[Example]:
    if args.input == "-" or args.input.lower().endswith(".txt"):
        return [Example(line, -1) for line in read_lines(args.input)]
    data = load_file(args.input, args.text_column, args.text_pair_column, args.label_column, require_labels=False)
    return [Example(example.text, -1, example.text_pair) for example in data.examples]


def _predict(args: argparse.Namespace) -> int:
    from .evaluation import predict_logits

    validate_predict(args)
    examples = _read_input(args)
    if not examples:
        raise UserError(f"no examples in {args.input}")
    model, tokenizer = _load_model(args.model_dir)
    names = _label_names(model)
    logits = predict_logits(
        model, tokenizer, examples, args.batch_size, _max_length(args.model_dir, tokenizer), progress=args.output is not None
    )
    probabilities = logits.softmax(dim=-1)
    scores, labels = probabilities.max(dim=-1)
    lines = []
    for example, label, score in zip(examples, labels.tolist(), scores.tolist()):
        record = {"text": example.text}
        if example.text_pair is not None:
            record["text_pair"] = example.text_pair
        record.update({"label": names[label], "score": round(score, 6)})
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    if args.output:
        # The old file or the whole new one: never half of the predictions.
        write_bytes_atomic(args.output, "".join(lines).encode("utf-8"))
    else:
        sys.stdout.writelines(lines)
    return 0
