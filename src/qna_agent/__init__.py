"""qna-agent: a question-answering agent service with cited answers from your documents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qna-agent")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
