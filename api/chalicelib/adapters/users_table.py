"""DynamoDB repository of users: one item per user, keyed by the normalized email."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import backend_call, error_code
from chalicelib.errors import EmailAlreadyExists
from chalicelib.model import User


class UsersTable:
    def __init__(self, client, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, user: User) -> None:
        """Insert a new user; EmailAlreadyExists if the email is taken."""
        with backend_call("dynamodb", "PutItem"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        "name": {"S": user.name},
                        "email": {"S": user.email},
                        "avatar_url": {"S": user.avatar_url},
                    },
                    ConditionExpression="attribute_not_exists(email)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise EmailAlreadyExists(
                        f"a user with email {user.email} already exists"
                    ) from None
                raise

    def page(self, limit: int | None, start_email: str | None) -> tuple[list[User], str | None]:
        """Return up to `limit` users after `start_email` (all when limit is None),
        and the email to continue from, or None at the end of the table."""
        users: list[User] = []
        start_key = {"email": {"S": start_email}} if start_email else None
        while True:
            request: dict = {"TableName": self._table}
            if start_key:
                request["ExclusiveStartKey"] = start_key
            if limit is not None:
                request["Limit"] = limit - len(users)
            with backend_call("dynamodb", "Scan"):
                response = self._client.scan(**request)
            users.extend(_user_from_item(item) for item in response.get("Items", []))
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return users, None
            if limit is not None and len(users) >= limit:
                return users, users[-1].email

    def all(self) -> Iterator[User]:
        start: str | None = None
        while True:
            users, start = self.page(1000, start)
            yield from users
            if start is None:
                return

    def ping(self) -> None:
        with backend_call("dynamodb", "DescribeTable"):
            self._client.describe_table(TableName=self._table)


def _user_from_item(item: dict) -> User:
    return User(
        name=item["name"]["S"],
        email=item["email"]["S"],
        avatar_url=item["avatar_url"]["S"],
    )

