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
    if cls in (errors.ProdmlError, errors.StoreError, errors.StoreUnavailableError):
        assert cls.http_status >= 500
    else:
        assert 400 <= cls.http_status < 500
