"""Settings of the whole suite."""

import signal


def pytest_configure(config):
    """Ctrl-C as an interactive shell gives it, whatever started the suite.

    A shell without job control starts a background job with SIGINT ignored, and an
    ignored signal stays ignored across ``exec``: the tests that send SIGINT to a solve,
    in this process or to a ``krylovfem`` run it starts, would find it ignored.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
