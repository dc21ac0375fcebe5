"""An evaluator of IAM policies as IAM evaluates them, for the policies the
generated templates write: Allow statements, action and resource patterns, the
condition operators they use (set operators included), CloudFormation's Ref and
Fn::Sub in them; and every action a document grants."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

# AWS managed policies the SAM-generated role may carry. Their actions are explicit
# (no wildcard): logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents; and
# xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSampling* (three named).
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"


def substitute(value, parameters: dict[str, str]):
    """A CloudFormation string: Ref or Fn::Sub resolved with these parameters."""
    if isinstance(value, dict):
        ((function, argument),) = value.items()
        if function == "Ref":
            return parameters[argument]
        assert function == "Fn::Sub", value
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: parameters[m[1]], argument)
    return value


# The condition operators the role uses, as IAM compares one value of a key with one
# of the statement's (any of them may match); IAM User Guide, "IAM JSON policy
# elements: Condition operators" and "Set operators for multivalued context keys".
OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringLike": fnmatchcase,
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": fnmatchcase,
}
# The set operators, for multivalued keys (a list in the request's context): every
# value must match one of the statement's (ForAllValues: also when the request has
# none, or lacks the key), or at least one must (ForAnyValue).
SET_OPERATORS = {"ForAllValues": all, "ForAnyValue": any}


def conditions_hold(conditions: dict, context: dict, parameters) -> bool:
    """Whether every condition holds for a request with this context, as IAM
    evaluates it: every operator and key must hold; a key absent from the request
    fails a single-valued condition; Null tests whether the key is absent."""
    for operator, pairs in conditions.items():
        qualifier, _, base = operator.rpartition(":")
        assert base in OPERATORS or base == "Null", f"not evaluated here: {operator}"
        assert qualifier in ("", *SET_OPERATORS), f"not evaluated here: {operator}"
        for key, expected in pairs.items():
            patterns = expected if isinstance(expected, list) else [expected]
            patterns = [substitute(p, parameters) for p in patterns]
            if base == "Null":
                (absent,) = patterns
                if (key not in context) != (absent == "true"):
                    return False
                continue
            compare = OPERATORS[base]
            if qualifier:
                values = context.get(key, [])
                assert isinstance(values, list), f"{key} is single-valued"
                matches = [any(compare(v, p) for p in patterns) for v in values]
                if not SET_OPERATORS[qualifier](matches):
                    return False
                continue
            if key not in context:
                return False
            assert isinstance(context[key], str), f"{key} is multivalued"
            if not any(compare(context[key], p) for p in patterns):
                return False
    return True


def allows(statements: list[dict], action: str, resource: str, context, parameters):
    """Whether an identity policy of Allow statements allows the request, as IAM
    evaluates it: action and resource patterns (* and ?), then every condition."""
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        patterns = statement["Resource"]
        patterns = [patterns] if not isinstance(patterns, list) else patterns
        patterns = [substitute(p, parameters) for p in patterns]
        if not any(fnmatchcase(resource, p) for p in patterns):
            continue
        if conditions_hold(statement.get("Condition", {}), context, parameters):
            return True
    return False


def policy_actions(node) -> list[str]:
    """Every IAM Action anywhere in a CloudFormation document."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key in ("Action", "NotAction"):
                found.extend([value] if isinstance(value, str) else value)
            else:
                found.extend(policy_actions(value))
        return found
    if isinstance(node, list):
        return [action for item in node for action in policy_actions(item)]
    return []
