#!/usr/bin/env python3
"""REST calls of docker/compose-test.sh against the DolphinScheduler 2.0.5 API server.

The same calls the conformance suite makes (src/testkit/scenario.rs): log in as admin,
create a tenant and give it to admin, create a project, import an export file, bring the
definition online, start it, poll the instance and its tasks, read the monitor page and a
task log. Standard library only. Every command prints JSON (or a plain value) on stdout and
exits non-zero with a message on failure.

  compose_api.py BASE wait-login SECONDS
  compose_api.py BASE setup TENANT PROJECT              -> project code
  compose_api.py BASE workflow SRC OUT NAME SCRIPT...   -> writes an export file (no HTTP)
  compose_api.py BASE import-start PROJECT FILE NAME    -> instance id
  compose_api.py BASE wait-instance PROJECT ID SECONDS STATE[,STATE...]  -> final state
  compose_api.py BASE wait-task-running PROJECT ID TASKNAME SECONDS
  compose_api.py BASE tasks PROJECT ID                  -> [{name, state, host}]
  compose_api.py BASE masters                           -> monitor/masters list
  compose_api.py BASE task-log PROJECT ID TASKNAME      -> the task's log text

BASE is http://127.0.0.1:PORT/dolphinscheduler.
"""
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ADMIN = ("admin", "dolphinscheduler123")


class ApiError(Exception):
    pass


def request(base, method, path, params=None, session=None, body=None, content_type=None):
    url = base + path
    data = None
    headers = {"Accept": "application/json"}
    if session:
        headers["sessionId"] = session
    if body is not None:
        data = body
        headers["Content-Type"] = content_type
    elif params:
        encoded = urllib.parse.urlencode(params)
        if method == "GET":
            url += "?" + encoded
        else:
            data = encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise ApiError(f"{method} {path}: HTTP {e.code} {e.read()[:300]!r}")
    except (urllib.error.URLError, OSError) as e:
        raise ApiError(f"{method} {path}: {e}")
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(f"{method} {path}: not JSON: {text[:300]!r}")


def data_of(what, envelope):
    if envelope.get("code") != 0:
        raise ApiError(f"{what} refused: code {envelope.get('code')} {envelope.get('msg')}")
    return envelope.get("data")


def login(base):
    v = request(base, "POST", "/login", {"userName": ADMIN[0], "userPassword": ADMIN[1]})
    return data_of("login", v)["sessionId"]


class Api:
    def __init__(self, base):
        self.base = base
        self.session = login(base)

    def get(self, path, **query):
        return data_of("GET " + path, request(self.base, "GET", path, query, self.session))

    def post(self, path, **form):
        return data_of("POST " + path, request(self.base, "POST", path, form, self.session))

    def post_file(self, path, field, name, content):
        boundary = "----dsmaster-compose-" + uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/json\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        v = request(self.base, "POST", path, session=self.session, body=body,
                    content_type=f"multipart/form-data; boundary={boundary}")
        return data_of("POST " + path, v)

    def definitions(self, project):
        page = self.get(f"/projects/{project}/process-definition", pageNo=1, pageSize=100)
        return page.get("totalList") or []

    def tasks(self, project, instance):
        v = self.get(f"/projects/{project}/process-instances/{instance}/tasks")
        return v.get("taskList") or []


def cmd_wait_login(base, seconds):
    deadline = time.time() + float(seconds)
    last = ""
    while time.time() < deadline:
        try:
            login(base)
            print("ok")
            return
        except ApiError as e:
            last = str(e)
        time.sleep(2)
    raise ApiError(f"no login within {seconds} s: {last}")


def cmd_setup(base, tenant, project):
    api = Api(base)
    tenants = api.get("/tenants/list") or []
    if not any(t.get("tenantCode") == tenant for t in tenants):
        api.post("/tenants", tenantCode=tenant, queueId=1, description="compose test")
        tenants = api.get("/tenants/list") or []
    tenant_id = next(t["id"] for t in tenants if t.get("tenantCode") == tenant)
    me = api.get("/users/get-user-info")
    if me.get("tenantId") != tenant_id:
        api.post("/users/update", id=me["id"], userName=ADMIN[0], userPassword=ADMIN[1],
                 queue="", email=me.get("email") or "admin@example.com",
                 tenantId=tenant_id, state=1)
    found = api.get("/projects", pageNo=1, pageSize=100, searchVal=project)
    codes = [p["code"] for p in found.get("totalList") or [] if p.get("name") == project]
    if not codes:
        api.post("/projects", projectName=project, description="compose test")
        found = api.get("/projects", pageNo=1, pageSize=100, searchVal=project)
        codes = [p["code"] for p in found.get("totalList") or [] if p.get("name") == project]
    print(codes[0])


def cmd_workflow(_base, src, out, name, *scripts):
    """A copy of export file SRC (one workflow of shell tasks) named NAME, whose tasks run
    SCRIPT... in order (as many scripts as tasks)."""
    with open(src) as f:
        export = json.load(f)
    wf = export[0]
    wf["processDefinition"]["name"] = name
    tasks = wf["taskDefinitionList"]
    if len(scripts) != len(tasks):
        raise ApiError(f"{src} has {len(tasks)} tasks, {len(scripts)} scripts given")
    for task, script in zip(tasks, scripts):
        task["taskParams"]["rawScript"] = script
    with open(out, "w") as f:
        json.dump([wf], f)
    print(out)


def cmd_import_start(base, project, path, name):
    api = Api(base)
    with open(path, "rb") as f:
        content = f.read()
    before = {d["code"] for d in api.definitions(project)}
    api.post_file(f"/projects/{project}/process-definition/import", "file",
                  name + ".json", content)
    new = [d for d in api.definitions(project)
           if d["code"] not in before and d["name"].startswith(name)]
    if len(new) != 1:
        raise ApiError(f"import of {path}: expected one new definition named {name}*, got {new}")
    code = new[0]["code"]
    api.post(f"/projects/{project}/process-definition/{code}/release", releaseState="ONLINE")
    api.post(f"/projects/{project}/executors/start-process-instance",
             processDefinitionCode=code, failureStrategy="END", warningType="NONE",
             warningGroupId=0, execType="START_PROCESS", taskDependType="TASK_POST",
             runMode="RUN_MODE_SERIAL", processInstancePriority="MEDIUM",
             workerGroup="default", environmentCode=-1, dryRun=0)
    deadline = time.time() + 120
    while time.time() < deadline:
        page = api.get(f"/projects/{project}/process-instances", pageNo=1, pageSize=10,
                       processDefineCode=code)
        rows = page.get("totalList") or []
        if rows:
            print(rows[0]["id"])
            return
        time.sleep(1)
    raise ApiError(f"no instance of definition {code} within 120 s")


FINAL = {"SUCCESS", "FAILURE", "STOP", "PAUSE", "KILL", "NEED_FAULT_TOLERANCE"}


def cmd_wait_instance(base, project, instance, seconds, states):
    wanted = set(states.split(","))
    api = Api(base)
    deadline = time.time() + float(seconds)
    state = None
    while time.time() < deadline:
        try:
            state = api.get(f"/projects/{project}/process-instances/{instance}")["state"]
        except ApiError as e:
            print(f"  (poll: {e})", file=sys.stderr)
            api = Api(base)
            time.sleep(2)
            continue
        if state in wanted:
            print(state)
            return
        if state in FINAL:
            break
        time.sleep(1)
    tasks = [(t["name"], t["state"], t.get("host")) for t in api.tasks(project, instance)]
    raise ApiError(f"instance {instance} is {state}, wanted {states}; tasks {tasks}")


def same_task(row, task):
    """Import appends `_import_<timestamp>` to names; match either spelling."""
    return row["name"] == task or row["name"].startswith(task + "_import_")


def cmd_wait_task_running(base, project, instance, task, seconds):
    api = Api(base)
    deadline = time.time() + float(seconds)
    while time.time() < deadline:
        for t in api.tasks(project, instance):
            if same_task(t, task) and t["state"] == "RUNNING_EXECUTION":
                print(t.get("host") or "")
                return
            if same_task(t, task) and t["state"] in FINAL:
                raise ApiError(f"task {task} already {t['state']}")
        time.sleep(0.5)
    raise ApiError(f"task {task} of instance {instance} not running within {seconds} s")


def cmd_tasks(base, project, instance):
    api = Api(base)
    print(json.dumps([{"name": t["name"], "state": t["state"], "host": t.get("host")}
                      for t in api.tasks(project, instance)]))


def cmd_masters(base):
    print(json.dumps(Api(base).get("/monitor/masters")))


def cmd_task_log(base, project, instance, task):
    api = Api(base)
    ids = [t["id"] for t in api.tasks(project, instance) if same_task(t, task)]
    if not ids:
        raise ApiError(f"no task {task} in instance {instance}")
    text = api.get("/log/detail", taskInstanceId=ids[0], skipLineNum=0, limit=1000)
    print(text if isinstance(text, str) else json.dumps(text))


COMMANDS = {
    "wait-login": cmd_wait_login,
    "setup": cmd_setup,
    "workflow": cmd_workflow,
    "import-start": cmd_import_start,
    "wait-instance": cmd_wait_instance,
    "wait-task-running": cmd_wait_task_running,
    "tasks": cmd_tasks,
    "masters": cmd_masters,
    "task-log": cmd_task_log,
}


def main(argv):
    if len(argv) < 3 or argv[2] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[2]](argv[1], *argv[3:])
    except ApiError as e:
        print(f"compose_api.py {argv[2]}: {e}", file=sys.stderr)
        return 1
    except TypeError as e:
        print(f"compose_api.py {argv[2]}: bad arguments ({e})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
