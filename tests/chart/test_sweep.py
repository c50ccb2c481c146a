"""The orphan-sweep CronJob: its own ServiceAccount, the operator command, locked down, bounded."""

from __future__ import annotations

from tests.chart.chartlib import SWEEP_ROLE_ARN


def job_spec(render):
    return render.one("CronJob")["spec"]["jobTemplate"]["spec"]


def pod_spec(render):
    return job_spec(render)["template"]["spec"]


def sweep_container(render):
    (c,) = pod_spec(render)["containers"]
    return c


def test_cronjob_runs_the_operator_command_on_a_schedule(default):
    cronjob = default.one("CronJob")
    assert cronjob["metadata"]["name"] == "users-api-sweep"
    spec = cronjob["spec"]
    assert spec["schedule"] == "17 3 * * *"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["suspend"] is False
    c = sweep_container(default)
    assert c["command"] == ["python3", "manage.py", "sweep-orphans", "--apply"]
    assert "workingDir" not in c, "runs from the image's working directory"
    assert c["image"] == "users-api:0.1.0", "the app's own image"


def test_grace_minutes_is_passed_when_set(full):
    assert full.one("CronJob")["spec"]["schedule"] == "@hourly"
    assert full.one("CronJob")["spec"]["timeZone"] == "Europe/Berlin"
    assert sweep_container(full)["command"] == [
        "python3", "manage.py", "sweep-orphans", "--apply", "--grace-minutes", "120"]


def test_one_run_at_a_time_bounded_retries_and_kept_history(default):
    spec = default.one("CronJob")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 600
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 3
    job = job_spec(default)
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] == 1800
    # Finished Jobs stay for the history limits (and kube-state-metrics): no TTL deletes them.
    assert "ttlSecondsAfterFinished" not in job
    assert pod_spec(default)["restartPolicy"] == "Never"


def test_found_orphans_fail_the_job_without_retries(default):
    """Exit code 3 (orphans found) is a finding: FailJob at once; node disruptions are ignored."""
    rules = job_spec(default)["podFailurePolicy"]["rules"]
    fail, ignore = rules
    assert fail == {"action": "FailJob", "onExitCodes": {
        "containerName": "sweep", "operator": "In", "values": [3]}}
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}


def test_sweep_has_its_own_service_account(default):
    sa = default.one("ServiceAccount", "sweep")
    assert sa["metadata"]["name"] == "users-api-sweep"
    assert sa["automountServiceAccountToken"] is False
    assert "annotations" not in sa["metadata"]
    spec = pod_spec(default)
    assert spec["serviceAccountName"] == "users-api-sweep"
    web = default.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    assert web == "users-api" != spec["serviceAccountName"]
    assert spec["automountServiceAccountToken"] is False


def test_deploy_flow_names_the_sweep_service_account(helm):
    render = helm.template({"sweep": {"serviceAccount": {"name": "users-api-dev-sweep"}}})
    assert render.returncode == 0, render.stderr
    assert render.one("ServiceAccount", "sweep")["metadata"]["name"] == "users-api-dev-sweep"
    assert pod_spec(render)["serviceAccountName"] == "users-api-dev-sweep"


def test_irsa_role_of_the_sweep_stays_on_the_sweep(helm):
    render = helm.rendered("irsa")
    assert render.one("ServiceAccount", "sweep")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": SWEEP_ROLE_ARN}
    assert SWEEP_ROLE_ARN not in str(render.one("ServiceAccount", "api"))
    assert SWEEP_ROLE_ARN not in str(render.one("Deployment"))


def test_existing_sweep_service_account(helm):
    render = helm.template({"sweep": {"serviceAccount": {"create": False, "name": "ops-sweep"}}})
    assert render.returncode == 0, render.stderr
    assert not render.all("ServiceAccount", "sweep")
    assert pod_spec(render)["serviceAccountName"] == "ops-sweep"


def test_sweep_is_locked_down(default):
    spec = pod_spec(default)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["enableServiceLinks"] is False
    c = sweep_container(default)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                              "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert "ports" not in c


def test_sweep_reads_the_api_configuration(default):
    c = sweep_container(default)
    assert c["envFrom"] == [{"configMapRef": {"name": "users-api"}}]
    env = {e["name"]: e for e in c["env"]}
    assert env["AWS_REGION"]["valueFrom"]["configMapKeyRef"] == {
        "name": "users-api", "key": "AWS_REGION"}


def test_sweep_pods_are_not_api_pods(default):
    labels = job_spec(default)["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "sweep"
    for selector in (default.one("Service")["spec"]["selector"],
                     default.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                     default.one("Deployment")["spec"]["selector"]["matchLabels"]):
        assert not selector.items() <= labels.items()


def test_sweep_can_be_disabled(helm):
    render = helm.rendered("minimal")
    assert not render.all("CronJob")
    assert not render.all("ServiceAccount", "sweep")
    render = helm.template({"sweep": {"enabled": False}, "networkPolicy": {"enabled": True}})
    assert render.returncode == 0, render.stderr
    assert not render.all("CronJob") and not render.all("NetworkPolicy", "sweep")
    assert len(render.all("NetworkPolicy", "api")) == 1
