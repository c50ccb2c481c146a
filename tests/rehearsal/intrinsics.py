"""Resolve a synthesized template's intrinsic functions against what was really deployed.

The rehearsal needs this wherever the emulator's CloudFormation does not create a resource
itself: it then creates that resource through the service API *from the template's own
properties*, with every ``Ref``/``Fn::GetAtt`` replaced by the deployed physical id or attribute
(read back from the emulator, never invented). Anything it cannot resolve raises ``Unresolved``:
a property is never silently dropped or loosened.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Unresolved(LookupError):
    pass


@dataclass
class Scope:
    """What Ref/GetAtt resolve to in one deployed stack."""

    region: str
    account: str
    stack_name: str
    physical_ids: Mapping[str, str]  # logical id -> physical id
    attribute: Callable[[str, str], str]  # (logical id, attribute name) -> value
    exports: Mapping[str, str]  # export name -> value (other stacks' outputs)
    parameters: Mapping[str, str]
    # (stack name, output name) -> value: CDK's weak cross-stack references (Fn::GetStackOutput)
    stack_output: Callable[[str, str], str] = lambda stack, name: _no_output(stack, name)

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name not in values:
            raise Unresolved(f"pseudo parameter {name}")
        return values[name]


def resolve(node, scope: Scope):
    """The template fragment ``node`` with every intrinsic function evaluated."""
    if isinstance(node, list):
        return [resolve(item, scope) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            if arg.startswith("AWS::"):
                return scope.pseudo(arg)
            if arg in scope.parameters:
                return scope.parameters[arg]
            if arg not in scope.physical_ids:
                raise Unresolved(f"Ref {arg}: no such deployed resource")
            return scope.physical_ids[arg]
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return scope.attribute(logical_id, attribute)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(resolve(item, scope)) for item in resolve(items, scope))
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, scope)[int(resolve(index, scope))]
        if key == "Fn::Split":
            separator, text = arg
            return str(resolve(text, scope)).split(separator)
        if key == "Fn::ImportValue":
            name = resolve(arg, scope)
            if name not in scope.exports:
                raise Unresolved(f"Fn::ImportValue {name}: no stack exports it")
            return scope.exports[name]
        if key == "Fn::GetStackOutput":
            return scope.stack_output(resolve(arg["StackName"], scope), resolve(arg["OutputName"], scope))
        if key == "Fn::Sub":
            return _sub(arg, scope)
        if key.startswith("Fn::") or key == "Condition":
            raise Unresolved(f"intrinsic {key} is not supported by the rehearsal")
    return {key: resolve(value, scope) for key, value in node.items()}


def _no_output(stack: str, name: str) -> str:
    raise Unresolved(f"Fn::GetStackOutput {stack}.{name}: no such deployed output")


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def _sub(arg, scope: Scope) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name in variables:
            return str(resolve(variables[name], scope))
        if name.startswith("AWS::"):
            return scope.pseudo(name)
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return scope.attribute(logical_id, attribute)
        return str(resolve({"Ref": name}, scope))

    return _SUB.sub(one, text)
