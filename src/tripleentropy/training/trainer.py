"""The Hugging Face Trainer, taught about the loss parts, the centers and non-finite losses."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from transformers import Trainer

from ..errors import UserError
from ..modeling import TripleEntropyForSequenceClassification
from .features import EpochLengthGroupedSampler


_SHARDED = (
    "FSDP and DeepSpeed are not supported: tripleentropy saves and resumes plain Hugging Face checkpoints "
    "with the SoftTriple centers beside them, which sharded training would not write or restore. Train with "
    "data parallelism instead (torchrun, or accelerate launch --multi_gpu without an FSDP or DeepSpeed config)."
)


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite; the message names the step."""


class TripleEntropyTrainer(Trainer):
    """``Trainer`` for ``TripleEntropyForSequenceClassification``.

    - Optimizer groups: encoder and head at ``args.learning_rate`` with weight decay, except
      biases and LayerNorm weights; the SoftTriple centers at ``center_lr`` without weight decay.
      The scheduler (warm-up, then linear or cosine decay) scales every group alike.
    - The loss parts ``ce`` and ``metric`` are logged beside ``loss``, averaged over the
      logging window (and over processes).
    - A non-finite loss stops training before the step is applied, with ``NonFiniteLossError``;
      checkpoints already written stay as they are.
    - Checkpoints and the final save are ``save_pretrained`` directories (a plain Hugging Face
      classifier, or with mean pooling a sentence-transformers and SetFit model, + centers), and
      resuming reloads them. This overrides ``Trainer``'s private ``_save``,
      ``_load_from_checkpoint`` and ``_load_best_model``, written against the transformers minor
      version that ``pyproject.toml`` pins and the tests cover.
    - Data parallel training (torchrun, ``accelerate launch --multi_gpu``) is supported; FSDP and
      DeepSpeed, whose sharded checkpoints these overrides do not read or write, are refused with
      a ``UserError`` when the trainer is made.
    """

    def __init__(self, *args, center_lr: float, group_by_length: bool = False, **kwargs) -> None:
        training_args = kwargs.get("args", args[1] if len(args) > 1 else None)
        if training_args is not None and (getattr(training_args, "fsdp", None) or getattr(training_args, "deepspeed", None)):
            raise UserError(_SHARDED)
        super().__init__(*args, **kwargs)
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:  # e.g. set by an accelerate config
            raise UserError(_SHARDED)
        self.center_lr = center_lr
        self.group_by_length = group_by_length
        self._part_sums: torch.Tensor | None = None

    def _module(self) -> TripleEntropyForSequenceClassification:
        return self.accelerator.unwrap_model(self.model, keep_torch_compile=False)

    # ---- optimisation ----------------------------------------------------------------------

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            module = self._module()
            center_ids = {id(p) for p in module.center_parameters()}
            decay_names = set(self.get_decay_parameter_names(module))
            decay, no_decay = [], []
            for name, parameter in module.named_parameters():
                if not parameter.requires_grad or id(parameter) in center_ids:
                    continue
                (decay if name in decay_names else no_decay).append(parameter)
            groups = [
                {"params": decay, "weight_decay": self.args.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ]
            centers = [p for p in module.center_parameters() if p.requires_grad]
            if centers:
                groups.append({"params": centers, "weight_decay": 0.0, "lr": self.center_lr})
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, module)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_by_length and hasattr(dataset, "lengths"):
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return EpochLengthGroupedSampler(batch, dataset.lengths, self.args.seed)
        return super()._get_train_sampler(train_dataset)

    # ---- loss and its parts ----------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs.loss
        if model.training:
            self._check_finite(loss)
            parts = [outputs.ce, outputs.metric if outputs.metric is not None else torch.zeros_like(outputs.ce)]
            step = torch.stack([p.detach().float() for p in parts] + [torch.ones_like(parts[0], dtype=torch.float32)])
            self._part_sums = step if self._part_sums is None else self._part_sums + step
        return (loss, outputs) if return_outputs else loss

    def _check_finite(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss.detach()).to(torch.int32).reshape(1)
        if dist.is_available() and dist.is_initialized() and self.args.world_size > 1:
            # Every process must stop together, or the others would wait forever.
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not bool(finite.item()):
            step = self.state.global_step + 1
            raise NonFiniteLossError(
                f"the training loss became {loss.item() if loss.numel() == 1 else 'non-finite'} at step {step} "
                f"(epoch {self.state.epoch or 0:.2f}); training stopped before applying it. Lower la "
                f"(the SoftTriple scale, now {self._module().loss_settings.get('la', 'unused')}), the learning "
                f"rates, or raise beta. Checkpoints written before this step are intact."
            )

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._part_sums is not None:
            sums = self._part_sums
            if dist.is_available() and dist.is_initialized() and self.args.world_size > 1:
                sums = sums.clone()
                dist.all_reduce(sums)
            count = float(sums[2])
            if count > 0:
                logs["ce"] = round(float(sums[0]) / count, 6)
                if self._module().criterion is not None:
                    logs["metric"] = round(float(sums[1]) / count, 6)
            self._part_sums = None
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # The loss parts are scalars, not predictions.
        ignore_keys = [*(ignore_keys or []), "ce", "metric"]
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    # ---- saving and loading ----------------------------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Write a ``save_pretrained`` directory of ``state_dict`` (this module's keys, as
        ``Trainer.save_model`` passes it), or of the module's own weights when it is None."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        max_length = getattr(self.train_dataset, "max_length", None)
        self._module().save_pretrained(output_dir, tokenizer=self.processing_class, max_length=max_length,
                                       state_dict=state_dict)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        module = self._module() if model is None else self.accelerator.unwrap_model(model)
        module.load_weights(resume_from_checkpoint)

    def _load_best_model(self) -> None:
        self._module().load_weights(self.state.best_model_checkpoint)
