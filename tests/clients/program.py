"""A program against the Python client that openapi-python-client generates from the "domain"
render (tests/test_clients.py): mypy --strict checks it, then it runs against the served app.

It reads fields as the types the document promises, without casts or None checks, and creates
rows with their required fields only.
"""

import sys
import uuid

from api_client import AuthenticatedClient, Client
from api_client.api.auth import login, logout, refresh, register
from api_client.api.projects import create_project, read_project, update_project
from api_client.api.tasks import create_task, delete_task, list_project_tasks, list_tasks
from api_client.models import (
    BodyLogin,
    PageTaskExpanded,
    Problem,
    ProjectCreate,
    ProjectPublic,
    ProjectPublicStatus,
    ProjectUpdate,
    RefreshRequest,
    Registration,
    TaskCreate,
    TaskExpanded,
    TaskPublic,
    TaskPublicState,
    TokenPair,
    UserPublic,
)
from api_client.models.list_tasks_sort import ListTasksSort


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"failed: {what}")


def tokens_of(answer: TokenPair | Problem | object) -> TokenPair:
    expect(isinstance(answer, TokenPair), f"a token pair, not {answer!r}")
    assert isinstance(answer, TokenPair)  # for mypy: expect() exits otherwise
    return answer


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    email = f"client-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"

    user = register.sync(client=anonymous, body=Registration(email=email, password=password))
    expect(isinstance(user, UserPublic), f"sign-up: {user!r}")
    pair = tokens_of(
        login.sync(client=anonymous, body=BodyLogin(username=email, password=password))
    )
    kind: str = pair.token_type
    lifetime: int = pair.expires_in
    expect(kind == "bearer" and lifetime > 0, "a bearer token that expires")
    pair = tokens_of(refresh.sync(client=anonymous, body=RefreshRequest(pair.refresh_token)))
    client = AuthenticatedClient(base_url=base_url, token=pair.access_token)

    # A row with only its required fields; the others read as the types the document gives.
    created = create_project.sync_detailed(client=client, body=ProjectCreate(name="Apollo"))
    project = created.parsed
    expect(created.status_code == 201 and isinstance(project, ProjectPublic), "create")
    assert isinstance(project, ProjectPublic)
    status: ProjectPublicStatus = project.status
    budget: str | None = project.budget
    expect(status == ProjectPublicStatus.ACTIVE and budget is None, "the defaults")
    version = created.headers["etag"]

    changed = update_project.sync_detailed(
        project.id, client=client, body=ProjectUpdate(budget="12.50"), if_match=version
    )
    expect(changed.status_code == 200, f"an update of the version read: {changed.content!r}")
    stale = update_project.sync_detailed(
        project.id, client=client, body=ProjectUpdate(name="Gemini"), if_match=version
    )
    expect(stale.status_code == 412 and isinstance(stale.parsed, Problem), "a stale If-Match")
    again = read_project.sync(project.id, client=client)
    expect(isinstance(again, ProjectPublic) and again.name == "Apollo", "the row as it was")
    assert isinstance(again, ProjectPublic)
    expect(again.budget == "12.50", f"a decimal as a string: {again.budget!r}")

    titles = ["first step", "second step", "third step"]
    for title in titles:
        task = create_task.sync(client=client, body=TaskCreate(title=title, project_id=project.id))
        expect(isinstance(task, TaskPublic), f"a task: {task!r}")
        assert isinstance(task, TaskPublic)
        estimate: int = task.estimate
        state: TaskPublicState = task.state
        expect(estimate == 0 and state == TaskPublicState.TODO and task.tag_ids == [], "task")

    first = list_tasks.sync(client=client, limit=2, sort=ListTasksSort.TITLE)
    expect(isinstance(first, PageTaskExpanded), f"a page: {first!r}")
    assert isinstance(first, PageTaskExpanded)
    expect(first.total == 3 and [t.title for t in first.items] == titles[:1] + titles[1:2], "page")
    by_offset = list_tasks.sync(client=client, limit=2, offset=2, sort=ListTasksSort.TITLE)
    assert isinstance(by_offset, PageTaskExpanded)
    cursor: str | None = first.next_cursor
    expect(cursor is not None, "a next cursor")
    assert cursor is not None
    by_cursor = list_tasks.sync(client=client, limit=2, cursor=cursor, sort=ListTasksSort.TITLE)
    assert isinstance(by_cursor, PageTaskExpanded)
    expect([t.title for t in by_offset.items] == [t.title for t in by_cursor.items], "pages")
    searched = list_project_tasks.sync(project.id, client=client, q="second")
    assert isinstance(searched, PageTaskExpanded)
    only: TaskExpanded = searched.items[0]
    expect(searched.total == 1 and only.title == "second step", "a filter")
    gone = delete_task.sync_detailed(only.id, client=client)
    expect(gone.status_code == 204, "a delete")

    ended = logout.sync_detailed(client=client, body=RefreshRequest(pair.refresh_token))
    expect(ended.status_code == 204, f"logout: {ended.content!r}")
    spent = refresh.sync_detailed(client=anonymous, body=RefreshRequest(pair.refresh_token))
    expect(spent.status_code == 401, "a refresh token of an ended session")


if __name__ == "__main__":
    main(sys.argv[1])
    print("ok")
