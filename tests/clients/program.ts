// A program against the types openapi-typescript generates from the "domain" render
// (tests/test_clients.py): `tsc --strict` checks it. It reads fields as the types the document
// promises, without casts, and writes rows with their required fields only.
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type TaskListQuery = NonNullable<paths["/api/v1/tasks"]["get"]["parameters"]["query"]>;

export const project: Schemas["ProjectCreate"] = { name: "Apollo" };
export const task: Schemas["TaskCreate"] = { title: "first step", project_id: "0" };
export const change: Schemas["TaskUpdate"] = { estimate: 3 };
export const query: TaskListQuery = { sort: "-created_at", limit: 2, q: "step" };

export function describe(row: Schemas["TaskPublic"], tokens: Schemas["TokenPair"]): string {
  const estimate: number = row.estimate;
  const state: "todo" | "doing" | "done" = row.state;
  const tags: string[] = row.tag_ids;
  const parent: string | null = row.parent_id;
  const kind: string = tokens.token_type;
  return `${row.title} ${estimate} ${state} ${tags.length} ${parent ?? "-"} ${kind}`;
}

export function budget(row: Schemas["ProjectPublic"]): string {
  const status: "active" | "archived" = row.status;
  return `${status}: ${row.budget ?? "none"}`;
}

export function cursorOf(page: Schemas["Page_TaskExpanded_"]): string | null {
  const total: number = page.total;
  return total > page.items.length ? page.next_cursor : null;
}

export function problem(answer: Schemas["Problem"]): string {
  const type: string = answer.type;
  return `${type} ${answer.status} ${answer.title}`;
}
