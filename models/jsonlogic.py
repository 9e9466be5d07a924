"""A small, whitelisted JSON-logic evaluator: rules written by business users never reach eval().

Supported: var, missing, ==, !=, <, <=, >, >=, and, or, !, !!, if, in, +, -, *, /, min, max.
Numbers given as strings (Decimal payloads) compare as numbers. Depth and size are bounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DEPTH = 12
MAX_NODES = 200


class LogicError(ValueError):
    """The expression is not valid JSON-logic in our whitelist."""


def _num(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
        return number if number.is_finite() else None
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return number if number.is_finite() else value  # "NaN"/"Infinity" stay text: they break comparisons
    return value


def _var(data: Any, path: Any, default: Any = None) -> Any:
    if path in (None, ""):
        return data
    current = data
    for part in str(path).split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


def _cmp(op: str, a: Any, b: Any) -> bool:
    a, b = _num(a), _num(b)
    try:
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except (TypeError, ArithmeticError):
        return False


def _truthy(value: Any) -> bool:
    return len(value) > 0 if isinstance(value, list) else bool(value)


OPS = {"var", "missing", "==", "!=", "<", "<=", ">", ">=", "and", "or", "!", "!!", "if", "in", "+", "-", "*",
       "/", "min", "max"}


def validate(expr: Any, depth: int = 0, budget: list[int] | None = None) -> None:
    """Raise LogicError unless ``expr`` uses only whitelisted operators within the size limits."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise LogicError("条件过于复杂")
    if isinstance(expr, dict):
        if len(expr) != 1:
            raise LogicError("每个条件节点只能有一个运算符")
        [(op, args)] = expr.items()
        if op not in OPS:
            raise LogicError(f"不支持的运算符：{op}")
        for arg in args if isinstance(args, list) else [args]:
            validate(arg, depth + 1, budget)
    elif isinstance(expr, list):
        for item in expr:
            validate(item, depth + 1, budget)
    elif not isinstance(expr, str | int | float | bool | type(None)):
        raise LogicError("条件里只能有 JSON 值")


def evaluate(expr: Any, data: Any) -> Any:
    """Evaluate a validated expression against ``data`` (arithmetic that overflows yields None)."""
    try:
        return _evaluate(expr, data)
    except ArithmeticError:  # e.g. "9e999999" * "9e999999": a user's condition must not crash the engine
        return None


def _evaluate(expr: Any, data: Any) -> Any:
    if isinstance(expr, list):
        return [evaluate(e, data) for e in expr]
    if not isinstance(expr, dict):
        return expr
    if not expr:
        return True
    [(op, raw)] = expr.items()
    args = raw if isinstance(raw, list) else [raw]
    if op == "var":
        return _var(data, evaluate(args[0], data) if args else None, evaluate(args[1], data) if len(args) > 1 else None)
    if op == "missing":
        return [a for a in (evaluate(x, data) for x in args) if _var(data, a) is None]
    if op == "and":
        result: Any = True
        for a in args:
            result = evaluate(a, data)
            if not _truthy(result):
                return result
        return result
    if op == "or":
        result = False
        for a in args:
            result = evaluate(a, data)
            if _truthy(result):
                return result
        return result
    if op == "if":
        for i in range(0, len(args) - 1, 2):
            if _truthy(evaluate(args[i], data)):
                return evaluate(args[i + 1], data)
        return evaluate(args[-1], data) if len(args) % 2 else None
    values = [evaluate(a, data) for a in args]
    if op == "==":
        return _num(values[0]) == _num(values[1])
    if op == "!=":
        return _num(values[0]) != _num(values[1])
    if op in ("<", "<=", ">", ">="):
        if len(values) == 3:  # between: a < b < c
            return _cmp(op, values[0], values[1]) and _cmp(op, values[1], values[2])
        return _cmp(op, values[0], values[1])
    if op == "!":
        return not _truthy(values[0])
    if op == "!!":
        return _truthy(values[0])
    if op == "in":
        hay = values[1]
        return values[0] in hay if isinstance(hay, list | str) else False
    nums = [_num(v) for v in values]
    if not all(isinstance(n, Decimal) for n in nums):
        return None
    if op == "+":
        return sum(nums, Decimal(0))
    if op == "*":
        product = Decimal(1)
        for n in nums:
            product *= n
        return product
    if op == "-":
        return -nums[0] if len(nums) == 1 else nums[0] - nums[1]
    if op == "/":
        return nums[0] / nums[1] if nums[1] else None
    if op == "min":
        return min(nums) if nums else None
    return max(nums) if nums else None


def matches(expr: dict[str, Any] | None, data: Any) -> bool:
    """Tell whether a rule's condition holds ({} or None: always)."""
    return True if not expr else _truthy(evaluate(expr, data))
