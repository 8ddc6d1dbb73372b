"""Training on several devices or hosts with Keras' own engines (backend-specific module).

`resolve_distribution(distribute)` turns a name (or a ready strategy /
distribution object) into a `Distribution`: what the training recipe needs
to know to build the model, feed it data and decide who writes the run
folder. Nothing here trains: `model.fit` does, on the engine of the backend.

* "mirrored": `tf.distribute.MirroredStrategy` over the local GPUs (or the
  given devices); TensorFlow backend.
* "multi_worker": `tf.distribute.MultiWorkerMirroredStrategy`, configured by
  the `TF_CONFIG` environment variable of every worker; TensorFlow backend.
* "data_parallel": `keras.distribution.DataParallel` over all devices; across
  processes when `KERAS_DISTRIBUTION_NUM_PROCESSES` (with
  `KERAS_DISTRIBUTION_JOB_ADDRESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`) asks
  for more than one, through `keras.distribution.initialize`; JAX backend.
* "tpu": `tf.distribute.TPUStrategy` on the TPU named by `devices` (or the
  environment's); TensorFlow backend. Wiring only: untested here.

The batch size the user gives is the global batch of one optimizer step;
each replica computes `global / replicas` of it. Every input pipeline (a
worker, or a JAX process) reads its own part of the data (`data_split`).
"""

import contextlib
import dataclasses
import os

import keras

DISTRIBUTE_CHOICES = ("mirrored", "multi_worker", "data_parallel", "tpu")
class DistributionError(ValueError):
    """A distribution this backend, environment or batch size cannot run."""


_BACKENDS = {"mirrored": "tensorflow", "multi_worker": "tensorflow", "tpu": "tensorflow", "data_parallel": "jax"}


@dataclasses.dataclass
class Distribution:
    """How one training process takes part in a (possibly) distributed run.

    Attributes:
        kind: "none", or one of `DISTRIBUTE_CHOICES` ("custom" for a given
            strategy or distribution object).
        strategy: the `tf.distribute.Strategy`, or None.
        keras_distribution: the `keras.distribution.Distribution`, or None.
        num_replicas: replicas computing one optimizer step together.
        num_pipelines: input pipelines (workers / processes) of the job.
        pipeline_index: this process's pipeline.
        is_chief: whether this process writes the run folder.
    """

    kind: str = "none"
    strategy: object = None
    keras_distribution: object = None
    num_replicas: int = 1
    num_pipelines: int = 1
    pipeline_index: int = 0
    is_chief: bool = True

    def scope(self):
        """The context to build and compile the model in (and to train in)."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def check_batch_size(self, batch_size):
        """Raises DistributionError unless the global batch splits evenly over the replicas."""
        if batch_size % self.num_replicas:
            raise DistributionError(
                f"the batch size {batch_size} is the global batch of a step and must divide evenly over the "
                f"{self.num_replicas} replicas of --distribute {self.kind}; choose a multiple of "
                f"{self.num_replicas}."
            )

    def training_dataset(self, build, batch_size):
        """The training input for `model.fit`, each pipeline building its own part.

        Args:
            build: `build(num_pipelines, pipeline_index, pipeline_batch)`
                returns a repeating `tf.data.Dataset` of batches of
                `pipeline_batch` examples, this pipeline's share.
            batch_size: the global batch.

        Returns:
            A `tf.data.Dataset` (no strategy) or a distributed dataset.
        """
        self.check_batch_size(batch_size)
        if self.strategy is None:
            return build(self.num_pipelines, self.pipeline_index, batch_size // self.num_pipelines)

        def dataset_fn(context):
            # One pipeline per worker, batched per replica: the strategy hands
            # consecutive batches to the worker's replicas.
            return build(
                context.num_input_pipelines,
                context.input_pipeline_id,
                context.get_per_replica_batch_size(batch_size),
            )

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def evaluation_dataset(self, dataset):
        """A held-out dataset, every pipeline reading all of it in the same order (split by Keras)."""
        if self.strategy is None or dataset is None:
            return dataset
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)


def prepare_model(model, distribution):
    """Makes a compiled model's step follow the global batch under a TensorFlow strategy.

    Under a TensorFlow strategy every replica computes the loss and the
    gradients of its part of the batch, and Keras' optimizer sums the
    replicas' gradients after clipping them. Two things are set right here,
    so that a step on `n` replicas is the step on the whole batch:

    * the loss: a replica's loss is divided by `n` (Keras' own losses do
      this; a `compute_loss` override, such as `MusicVAE`'s, returns the
      plain mean of its part), unless the model's class says it does so
      already (`scales_loss_for_replicas = True`);
    * the clipping: `MusicVAEAdam` clips by the global norm (Magenta's rule),
      which must be the norm of the summed gradients, not of each replica's
      part; the sum is taken before the clipping (and not again after it).

    JAX's `DataParallel` computes the loss and gradients of the global batch
    as one program: nothing to do there.

    Args:
        model: a compiled model, built in `distribution.scope()`; train
            it (`fit`, `evaluate`) in that scope too.
        distribution: its `Distribution`.

    Returns:
        The model.
    """
    if distribution.strategy is None or distribution.num_replicas <= 1:
        return model
    if not (getattr(type(model), "scales_loss_for_replicas", False) or getattr(model, "_loss_per_replica", False)):
        compute_loss = model.compute_loss
        replicas = float(distribution.num_replicas)

        def compute_replica_loss(*args, **kwargs):
            return compute_loss(*args, **kwargs) / replicas

        model.compute_loss = compute_replica_loss
        model._loss_per_replica = True
    if model.optimizer is not None:
        _sum_gradients_before_clipping(getattr(model.optimizer, "inner_optimizer", model.optimizer))
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # here, in the strategy's scope
    # Keras' TensorFlow trainer, given a model made in a strategy's scope,
    # "symbolically builds" it from a first batch reduced with
    # `strategy.reduce`, which MultiWorkerMirroredStrategy refuses for a dict
    # of tensors. The model and its optimizer are built already, so that step
    # has nothing to do: forgetting the strategy skips it, and `fit` still
    # runs in it (in its scope, the trainer's `distribute_strategy`).
    model._distribute_strategy = None
    if distribution.num_pipelines > 1:
        # Across workers Keras averages each replica's step logs with
        # `strategy.reduce("MEAN", value, axis=0)`, which needs an axis 0:
        # the scalar logs are given one (the reduced values are scalars again).
        for name in ("train_step", "test_step"):
            setattr(model, name, _with_vector_logs(getattr(model, name)))
    return model


def _with_vector_logs(step):
    def step_with_vector_logs(data):
        return {k: keras.ops.reshape(v, (1,)) for k, v in step(data).items()}

    return step_with_vector_logs


def _sum_gradients_before_clipping(optimizer):
    """Moves a Keras TensorFlow optimizer's all-reduce of the gradients before its clipping."""
    import tensorflow as tf

    if getattr(optimizer, "_sums_before_clipping", False):
        return
    clip = optimizer._clip_gradients

    def sum_then_clip(grads):
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g in grads if g is not None]))
            grads = [None if g is None else next(summed) for g in grads]
        return clip(grads)

    optimizer._clip_gradients = sum_then_clip
    optimizer._all_reduce_sum_gradients = lambda grads_and_vars: grads_and_vars  # summed already
    optimizer._sums_before_clipping = True


def resolve_distribution(distribute=None, devices=None):
    """A `Distribution` for `distribute`, checked against the Keras backend.

    Call it first, before the model or any tensor is made: the TensorFlow
    strategies configure the runtime, and `keras.distribution.initialize`
    must precede all JAX computation.

    Args:
        distribute: None (one device), one of `DISTRIBUTE_CHOICES`, a
            `tf.distribute.Strategy` or a `keras.distribution.Distribution`.
        devices: device names for "mirrored" / "data_parallel" (default all
            local GPUs, else the CPU), or the TPU's name or address for "tpu".

    Raises:
        DistributionError: an unknown name, one the backend cannot run, or
            a missing `TF_CONFIG`.
    """
    backend = keras.backend.backend()
    if distribute is None or isinstance(distribute, Distribution):
        if devices:
            raise DistributionError("devices need a distribution (distribute='mirrored' or 'data_parallel').")
        return distribute or Distribution()
    if _is_keras_distribution(distribute):
        return _from_keras_distribution(distribute, "custom")
    if not isinstance(distribute, str):
        if backend != "tensorflow" or not hasattr(distribute, "num_replicas_in_sync"):
            raise DistributionError(
                f"distribute must be a name {DISTRIBUTE_CHOICES}, a tf.distribute.Strategy (TensorFlow backend) "
                f"or a keras.distribution.Distribution (JAX backend); got {type(distribute).__name__} on the "
                f"{backend} backend."
            )
        return _from_strategy(distribute, "custom")
    if distribute not in DISTRIBUTE_CHOICES:
        raise DistributionError(f"unknown distribution {distribute!r}; choose one of {', '.join(DISTRIBUTE_CHOICES)}.")
    needed = _BACKENDS[distribute]
    if backend != needed:
        hint = {
            "tensorflow": "'data_parallel' is the JAX equivalent",
            "jax": "'mirrored' / 'multi_worker' are the TensorFlow equivalents",
        }[needed]
        raise DistributionError(
            f"--distribute {distribute} runs on the {needed} backend, not {backend} (use --backend {needed}; "
            f"{hint}). The torch backend trains on one device only."
        )
    if distribute == "data_parallel":
        return _data_parallel(devices)
    import tensorflow as tf

    if distribute == "mirrored":
        return _from_strategy(tf.distribute.MirroredStrategy(devices=devices or None), distribute)
    if devices and distribute == "multi_worker":
        raise DistributionError("--devices does not apply to multi_worker: each worker uses its local GPUs (or CPU).")
    if distribute == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise DistributionError(
                "--distribute multi_worker needs the TF_CONFIG environment variable on every worker: "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.'
            )
        return _from_strategy(tf.distribute.MultiWorkerMirroredStrategy(), distribute)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=(devices[0] if devices else ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return _from_strategy(tf.distribute.TPUStrategy(resolver), distribute)


def _is_keras_distribution(value):
    # keras.distribution exports the subclasses (DataParallel, ModelParallel), not their base.
    return any(c.__name__ == "Distribution" and c.__module__.startswith("keras") for c in type(value).__mro__)


def _from_strategy(strategy, kind):
    num_pipelines, index, chief = 1, 0, True
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    workers = len(spec.get("worker", [])) + len(spec.get("chief", []))
    if workers > 1 and kind != "tpu":
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        has_chief = bool(spec.get("chief"))
        num_pipelines = workers
        index = task_id + (1 if has_chief and task_type == "worker" else 0)
        chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return Distribution(kind, strategy, None, int(strategy.num_replicas_in_sync), num_pipelines, index, chief)


def _data_parallel(devices):
    if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
        keras.distribution.initialize()
    devices = list(devices) if devices else keras.distribution.list_devices()
    return _from_keras_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False),
                                    "data_parallel")


def _from_keras_distribution(distribution, kind):
    import jax

    if keras.backend.backend() != "jax":
        backend = keras.backend.backend()
        raise DistributionError(f"a keras.distribution.Distribution needs the jax backend, not {backend}.")
    replicas = int(distribution.device_mesh.devices.size)
    processes, index = jax.process_count(), jax.process_index()
    return Distribution(kind, None, distribution, replicas, processes, index, index == 0)


def describe(distribution):
    """One line about a `Distribution`, for the training log."""
    if distribution.kind == "none":
        return "one device"
    text = f"{distribution.kind}: {distribution.num_replicas} replica(s)"
    if distribution.num_pipelines > 1:
        role = "chief" if distribution.is_chief else "worker"
        text += f", {distribution.num_pipelines} workers (this one {distribution.pipeline_index}, {role})"
    return text

