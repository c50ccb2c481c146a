"""DynamoDB repository of users: one item per user, keyed by the normalized email."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import backend_call, error_code
from chalicelib.errors import EmailAlreadyExists
from chalicelib.model import User


class UsersTable:
    """The UsersRepository port (chalicelib/ports.py) on DynamoDB."""

    def __init__(self, client, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, user: User) -> None:
        """Insert a new user; EmailAlreadyExists if the email is taken."""
        with backend_call("dynamodb", "PutItem", self._table):
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

    def page(self, limit: int, start_email: str | None) -> tuple[list[User], str | None]:
        """Return up to `limit` users after `start_email`, and the email to continue
        from, or None at the end of the table."""
        users: list[User] = []
        start_key = {"email": {"S": start_email}} if start_email else None
        while len(users) < limit:
            # A Scan may stop short of Limit at DynamoDB's 1 MB page size: keep going.
            batch, start_key = self._scan(start_key, limit - len(users))
            users.extend(batch)
            if not start_key:
                return users, None
        return users, users[-1].email

    def all(self) -> Iterator[User]:
        """Every user, one DynamoDB page (up to 1 MB) at a time."""
        start_key = None
        while True:
            batch, start_key = self._scan(start_key, None)
            yield from batch
            if not start_key:
                return

    def _scan(self, start_key: dict | None, limit: int | None) -> tuple[list[User], dict | None]:
        request: dict = {"TableName": self._table}
        if start_key:
            request["ExclusiveStartKey"] = start_key
        if limit is not None:
            request["Limit"] = limit
        with backend_call("dynamodb", "Scan", self._table):
            response = self._client.scan(**request)
        return [_user_from_item(item) for item in response.get("Items", [])], \
            response.get("LastEvaluatedKey")

    def ping(self) -> None:
        with backend_call("dynamodb", "DescribeTable", self._table):
            self._client.describe_table(TableName=self._table)


def _user_from_item(item: dict) -> User:
    return User(
        name=item["name"]["S"],
        email=item["email"]["S"],
        avatar_url=item["avatar_url"]["S"],
    )

