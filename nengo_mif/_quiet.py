"""Keep TensorFlow's Python-side logging out of users' terminals."""

import logging


def quiet_tensorflow() -> None:
    """Show TensorFlow Python warnings only at ERROR level (C++ logs: TF_CPP_MIN_LOG_LEVEL)."""
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
