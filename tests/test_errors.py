import inspect

import pytest

from prodml import errors


def _error_classes() -> list[type[errors.ProdmlError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.ProdmlError)
    ]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_is_drawn_in_the_module_docstring_with_its_status(cls):
    line = next(line for line in errors.__doc__.splitlines() if f" {cls.__name__} " in line)
    assert str(cls.http_status) in line


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_client_errors_are_4xx_and_store_errors_5xx(cls):
    server_side = (errors.StoreError, errors.StoreUnavailableError, errors.ServingError)
    if cls is errors.ProdmlError or cls in server_side:
        assert cls.http_status >= 500
    else:
        assert 400 <= cls.http_status < 500


def test_the_root_error_is_never_raised_bare():
    """Every error raised on purpose is one a caller can catch by what went wrong."""
    import ast
    from pathlib import Path

    source = Path(errors.__file__).parent
    bare = []
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                called = node.exc.func
                if isinstance(called, ast.Name) and called.id == "ProdmlError":
                    bare.append(f"{path.relative_to(source)}:{node.lineno}")
    assert bare == []
