"""Data: SentEval tasks, users' files, sampling and folds, all loading into ``Example`` objects."""

from .cli import add_column_arguments, add_data_arguments, add_data_dir_argument
from .examples import Example, LabeledData
from .fetch import SOURCES, fetch_senteval
from .files import load_file, read_lines
from .sampling import check_sample_classes, sample_train, stratified_folds
from .tasks import CV_SEED, DATA_ENV, TASKS, TaskFile, TaskInfo, get_task, load_task, resolve_data_dir

__all__ = [
    "CV_SEED",
    "DATA_ENV",
    "SOURCES",
    "TASKS",
    "Example",
    "LabeledData",
    "TaskFile",
    "TaskInfo",
    "add_column_arguments",
    "add_data_arguments",
    "add_data_dir_argument",
    "check_sample_classes",
    "fetch_senteval",
    "get_task",
    "load_file",
    "read_lines",
    "load_task",
    "resolve_data_dir",
    "sample_train",
    "stratified_folds",
]
