"""Typed settings from `prodml.yaml` in the project folder and `PRODML_*` variables.

Environment variables win over the file, so one committed file serves every machine;
nested keys use a double underscore (``PRODML_SERVING__PORT=9000``). Every URL left unset
points into the project's state folder (``.prodml/`` by default): a laptop needs nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from prodml.errors import ConfigError

SETTINGS_FILE = "prodml.yaml"
ENV_PREFIX = "PRODML_"
# Variables of the prefix that are not settings: the command line's token (cli/_auth.py),
# and the folder `prodml serve --workers N` gives its workers to share metrics in.
NOT_SETTINGS = frozenset({"PRODML_TOKEN", "PRODML_METRICS_SHARE"})

DEFAULT_YAML = """\
# prodml settings. Every key is optional; environment variables override the file:
# PRODML_<KEY>, with nested keys joined by a double underscore (PRODML_SERVING__PORT=9000).

# Where the embedded backends keep their state, relative to this file's folder.
state_dir: .prodml

# Metadata (snapshots, findings, deployments): SQLite by default, or PostgreSQL, e.g.
#   postgresql+psycopg://user@db-host:5432/prodml   (needs: pip install 'prodml[postgres]')
metadata_url: null          # null = sqlite:///<state_dir>/metadata.db

# Artifacts and snapshots: a local folder, or any fsspec URL (s3://bucket/prefix, gs://...).
artifacts_url: null         # null = <state_dir>/artifacts

# MLflow tracking and model registry: a database URI or a tracking server URL.
tracking_uri: null          # null = sqlite:///<state_dir>/mlflow.db

# Online feature store: SQLite, or Redis (needs: pip install 'prodml[redis]'), e.g.
#   redis://cache-host:6379/0
online_store_url: null      # null = sqlite:///<state_dir>/online.db

training:                   # what `prodml train` trains when given no recipe or --data
  recipe: null              # module:function building examples from snapshots (code), or
  data: null                # a table: the newest snapshot of this name (no Python), with
  label: null               #   the column to predict
  time: null                # time column to split on (default: the contract's event time)
  valid_from: null          # validation from this time (default: the last valid_fraction)
  valid_fraction: 0.2       # share held out; with no time column, a seeded random split
  task: auto                # classification, regression, or auto (from the label's type)
  model: null               # the registered name (default: the data's name)
  candidates: [lightgbm]    # flavors, or scikit-learn class paths, judged against baselines
  tune: 0                   # Optuna trials per tunable candidate (0: the defaults)
  include: []               # columns to learn from even if id-like or PII
  exclude: []               # columns never to learn from
  positive: null            # the label value scored as 1 (default: yes/true/1, else the rarer)
  seed: 0

serving:
  model: null               # what `prodml serve` and `prodml stream` answer with by default,
                            #   e.g. churn@champion
  deployment: null          # or the deployment `prodml serve` follows (`prodml deploy create`)
  follow: true              # served by alias, hot-swap when the alias moves
  workers: 1                # server processes (`prodml serve --workers`)
  host: 127.0.0.1
  port: 8000
  advertise: null           # the URL the console reaches this server at, e.g. a pod's
                            #   http://10.1.2.3:8000 (default: http://host:port, a wildcard
                            #   host named by this machine's host name)
  max_batch_rows: 1000      # larger /v1/predict batches are refused with 413
  coverage: 0.9             # conformal sets/intervals hold the truth this often (0.50-0.99)
  poll_seconds: 10          # how often a server checks its alias or deployment for a change
  candidate_timeout_ms: 50  # a rollout's candidate answering later is answered for by the
                            #   stable version (a fallback, counted against the candidate)
  compile_trees: true       # compile LightGBM trees to C for one-row requests (needs a C
                            # compiler and prodml[compiled]; verified bit-identical first)

streaming:
  url: nats://127.0.0.1:4222  # NATS JetStream, or redis://host:6379/0 for Redis Streams
  prefix: prodml            # subjects <prefix>.<model>.requests, .predictions, .dead and .log
  max_deliveries: 5         # a request failing this often goes to .dead
  batch: 64                 # messages fetched at a time

monitoring:
  freq: D                   # window length: D (days), W-MON (weeks), MS (calendar months)
  rows: null                # or windows of this many predictions each (overrides freq)
  min_rows: 200             # a window with fewer rows is reported as too small, not judged
  timezone: UTC             # whose calendar windows follow, e.g. America/New_York
  slices: []                # input columns to report performance per value of
  segments: []              # input columns to judge drift per value of (e.g. [origin])
  multivariate_exclude: []  # inputs the domain classifier leaves out (time-like ones, e.g.
                            #   [month], which tell any later window from the reference)
  sensitive: []             # input columns whose groups' fairness metrics are tracked
  methods: {}               # drift method per feature: ks, wasserstein, chisquare,
                            #   jensenshannon or psi (default: by type and reference size)
  thresholds: {}            # drift threshold per feature (default: the method's own): the
                            #   smallest effect that counts, past what chance gives at the
                            #   window's size; for ks and chisquare, the p-value
  notify: []                # where alerts go besides the log: apprise URLs, e.g.
                            #   json://hooks.example.com/prodml  (a webhook, JSON POST)
                            #   mailtos://user:password@smtp.example.com?to=oncall@example.com
  rules:                    # when findings raise an alert (one per rule, model and subject)
    - name: feature-drift   # any feature, or the prediction, drifted
      monitor: drift
      metric: drifted
      above: 0.5
      windows: 1            # consecutive breaching windows before it fires
      cooldown_hours: 24    # a still-firing alert is notified again at most this often
    - name: multivariate-drift  # a classifier tells the window from the reference
      monitor: multivariate
      metric: domain_auc
      above: 0.55
    - name: concept-drift   # a rise in errors began (CUSUM on labelled traffic)
      monitor: concept
      metric: shift_started
      above: 0.5
    - name: rejected-rows   # over 2 % of rows refused before scoring (422s, batch rejects)
      monitor: quality
      metric: rejected_share
      above: 0.02
    - name: out-of-range    # over 10 % of a number's values beyond the range training saw
      monitor: quality
      metric: out_of_range_share
      above: 0.1
    - name: performance-drop  # realized AUC (RMSE) worse than at registration, beyond
      monitor: performance    #   both 95 % intervals
      metric: worse_than_registered
      above: 0.5
    - name: estimated-drop  # the same, for the label-free estimate (before labels)
      monitor: estimate
      metric: worse_than_registered
      above: 0.5
    - name: bias-drift      # a sensitive attribute's group gap (demographic parity or
      monitor: fairness     #   equalized odds) wider than at registration, beyond chance
      metric: bias_drift
      above: 0.5
    - name: explanation-drift  # the features' shares of the scores' movement (TreeSHAP)
      monitor: explain      #   moved by a fifth or more of the whole since registration
      metric: importance_shift
      above: 0.2

rollouts:                   # how `prodml deploy tick|watch` judges a canary, shadow or A/B arm
  interval_seconds: 60      # between analyses (by the servers, or `prodml deploy watch`)
  in_server: true           # servers judge their deployment's rollout, one at a time
  alpha: 0.05               # chance of a false alarm per check, however often it looks
  min_rows: 200             # a check abstains on fewer candidate rows (labelled, for realized)
  min_step_seconds: 60      # a canary step lasts at least this long
  min_step_rows: 500        # and sends the candidate at least this many rows
  max_error_rate: 0.01      # (a) candidate failures (answered by stable) beyond the stable's
  latency_ratio: 3.0        # (b) a request is slow past ratio x the stable's p99 (and past
  latency_slack_ms: 10.0    #     it plus the slack); the candidate fails at 1 point more slow
  max_score_shift: 0.2      # (c) total variation between the arms' score distributions
  max_invalid_rate: 0.01    # (d) rows the candidate's own schema refuses
  max_estimated_drop: 0.02  # (e) estimated (CBPE) ROC AUC below the stable's, ranges apart
  max_realized_drop: 0.01   # (f) realized ROC AUC below the stable's (MAE rise, share, for
                            #     a regressor)
  min_labelled_rows: 0      # a canary step also waits for this many labelled rows per arm,
                            #   judged by (f) (0: labels are not waited for)
  ab_min_effect: 0.01       # an A/B verdict says how many rows would detect this difference

governance:                 # who may do what, and the record of who did
  auth: false               # require a token (and its role) on every write, by HTTP or
                            #   CLI; off, a server binds only to loopback (--insecure-bind)
  credentials: null         # the CLI's token file (`prodml auth login`), read when
                            #   PRODML_TOKEN is unset (null = ~/.config/prodml/credentials.json)
  max_failures: 10          # failed sign-ins per client per minute before 429
  audit_key: null           # a secret: the audit chain is HMAC-signed with it (else SHA-256,
                            #   and only the anchors catch a chain rewritten whole)
  anchors: null             # where the audit chain's head is anchored, outside the database
                            #   (null = <state_dir>/audit/anchors.jsonl)
  audit_retention_days: 366 # `prodml audit verify` deletes older events, anchoring where
                            #   the chain resumes (at least 183: AI Act Art. 19 asks six
                            #   months; null = keep every event)
  pii_key: null             # a secret: personal values are logged as HMACs under it (null =
                            #   a key made once in <state_dir>/secrets/pii.key)
  restore_aliases: false    # an alias moved directly in MLflow is recorded and reported by
                            #   `prodml audit verify`; true: also moved back
  fairness:                 # the training gate's check of monitoring.sensitive attributes
    min_ratio: 0.8          # a demographic-parity ratio below this blocks (four-fifths rule)
    max_odds_difference: 0.1  # an equalized-odds difference above this blocks
                            #   (either only when its interval also excludes parity)
    min_group_rows: 100     # smaller groups are listed, not judged
    margin: 0.02            # worse than the champion's by more than this also blocks
    intersections: true     # judge each pair of attributes' groups too (e.g. sex&age)

automate:                   # continuous training: `prodml ct tick` (one pass) and `prodml agent`
  every_seconds: 3600       # how often `prodml agent` ticks
  monitor: true             # a tick first runs a monitoring pass, so its alerts are current
  policy:                   # when to retrain, and what a retrained model must pass (per model
                            #   below); a change of policy is recorded in the audit log
    triggers:               # any one of these starts a retrain (so does `prodml ct retrain`)
      alerts: [performance-drop, estimated-drop, concept-drift]  # firing on the champion
      new_labels: null      # this many labelled production rows since the last training
      new_labels_share: 0.5 # or this share of the rows the champion trained on
      schedule_days: null   # or this long since the last training
    guards:                 # what holds a triggered retrain back
      cooldown_days: 60     # since the last retrain began: at most one every two months
                            #   (benchmarks/replay.py measures what that costs)
      max_retrains: 4       # at most this many ...
      period_days: 90       #   ... in this many days
      min_new_labels: 1000  # labelled production rows since the last training
      max_missing_rise: 0.5 # no retrain on a batch where a feature is missing in this much
                            #   more of the rows than in training (a broken feature pipeline)
      min_signal: 0.25      # a classifier retrained to less than this share of the
                            #   champion's registered AUC lift over chance, on the newest
                            #   labels, is not released: those labels look corrupted
    window: growing         # training rows: growing (all), sliding (the last window_days),
    window_days: 180        #   or weighted (a row half as likely to be kept every
    half_life_days: 90      #   half_life_days older)
    holdout_days: 14        # the newest labelled traffic, never trained on: the retrained
                            #   model must beat the baselines and the champion there
    min_gain: 0.0           # ... the champion by more than this (the metric's units), with
                            #   confidence: a retrain no better than the model it would
                            #   replace is not worth a rollout's risk (negative: may lose
                            #   up to this much)
    rollout: canary         # canary (the deployment serving the model) or promote (straight)
    steps: [0.1, 0.5, 1.0]  # the canary's traffic shares
    labelled_only_when: null  # feedback loop: outcomes come back only for rows the model
                            #   decided this (e.g. 0: only approved loans are repaid or not)
    feedback_rows: keep     # such rows in retraining: keep (recorded as kept) or exclude
  models: {}                # per model, what differs from `policy`, e.g.
                            #   flights-delay: {guards: {cooldown_days: 14}, rollout: promote}

ui:                         # the console: `prodml ui`, or under /ui of `prodml serve`
  port: 8765                # where `prodml ui` listens (on serving.host's loopback default)
  in_server: false          # also serve it under /ui of every `prodml serve`
  servers: []               # servers whose /metrics a deployment's page reads live, besides
                            #   those its servers announce (every `prodml serve --deployment`)

log_level: INFO             # DEBUG, INFO, WARNING or ERROR
"""


class TrainingSettings(BaseModel):
    """What `prodml train` trains with no arguments (see DEFAULT_YAML)."""

    model_config = ConfigDict(extra="forbid")

    recipe: str | None = None
    data: str | None = None
    label: str | None = None
    time: str | None = None
    valid_from: str | None = None
    valid_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    task: Literal["auto", "classification", "regression"] = "auto"
    model: str | None = None
    candidates: list[str] = Field(default_factory=lambda: ["lightgbm"])
    tune: int = Field(default=0, ge=0)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    positive: str | None = None
    seed: int = 0


class ServingSettings(BaseModel):
    """How `prodml serve` listens."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    deployment: str | None = None  # or serve this deployment's traffic policy
    follow: bool = True
    workers: int = Field(default=1, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    advertise: str | None = None  # the URL others reach a server at (serve/presence.py)
    max_batch_rows: int = Field(default=1000, ge=1)
    coverage: float = Field(default=0.9, ge=0.5, le=0.99)
    poll_seconds: float = Field(default=10.0, gt=0)
    candidate_timeout_ms: float = Field(default=50.0, gt=0)
    # Compile a LightGBM model's trees to native code for one-row requests, in the
    # background, where a C compiler and prodml[compiled] are installed.
    compile_trees: bool = True


class StreamingSettings(BaseModel):
    """Where `prodml stream` reads requests and writes predictions."""

    model_config = ConfigDict(extra="forbid")

    url: str = "nats://127.0.0.1:4222"
    prefix: str = Field(default="prodml", pattern=r"^[A-Za-z0-9_-]+$")
    max_deliveries: int = Field(default=5, ge=1)
    batch: int = Field(default=64, ge=1)


class AlertRule(BaseModel):
    """Findings of `monitor` and `metric` (and `feature`, when given; else each feature
    or segment apart) past `above` or `below` for `windows` windows in a row."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    monitor: Literal[
        "drift",
        "multivariate",
        "segment",
        "estimate",
        "performance",
        "fairness",
        "explain",
        "concept",
        "quality",
    ]
    metric: str
    feature: str | None = None
    above: float | None = None
    below: float | None = None
    windows: int = Field(default=1, ge=1)
    cooldown_hours: float = Field(default=24.0, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRule:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"rule {self.name!r} needs exactly one of `above` or `below`")
        return self


def _default_rules() -> list[AlertRule]:
    return [
        AlertRule(name="feature-drift", monitor="drift", metric="drifted", above=0.5),
        AlertRule(
            name="multivariate-drift", monitor="multivariate", metric="domain_auc", above=0.55
        ),
        AlertRule(name="concept-drift", monitor="concept", metric="shift_started", above=0.5),
        # Refusals and never-seen values: no training row was refused, so any sizeable
        # share is a rise.
        AlertRule(name="rejected-rows", monitor="quality", metric="rejected_share", above=0.02),
        AlertRule(name="out-of-range", monitor="quality", metric="out_of_range_share", above=0.1),
        # Below the figure measured on held-out rows at registration, beyond both intervals.
        AlertRule(
            name="performance-drop",
            monitor="performance",
            metric="worse_than_registered",
            above=0.5,
        ),
        AlertRule(
            name="estimated-drop", monitor="estimate", metric="worse_than_registered", above=0.5
        ),
        AlertRule(name="bias-drift", monitor="fairness", metric="bias_drift", above=0.5),
        AlertRule(
            name="explanation-drift", monitor="explain", metric="importance_shift", above=0.2
        ),
    ]


class MonitoringSettings(BaseModel):
    """How `prodml monitor` windows traffic and when it alerts."""

    model_config = ConfigDict(extra="forbid")

    freq: str = "D"
    rows: int | None = Field(default=None, ge=100)
    min_rows: int = Field(default=200, ge=1)
    timezone: str = "UTC"
    slices: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    multivariate_exclude: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    notify: list[str] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=_default_rules)


class RolloutSettings(BaseModel):
    """How the rollout analysis judges a candidate (see `rollout.checks`)."""

    model_config = ConfigDict(extra="forbid")

    interval_seconds: float = Field(default=60.0, gt=0)
    # Servers following a deployment judge its rollout themselves (one at a time, by
    # lease); off when `prodml deploy watch` or a CronJob's `deploy tick` is to do it alone.
    in_server: bool = True
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_rows: int = Field(default=200, ge=10)
    min_step_seconds: float = Field(default=60.0, ge=0)
    min_step_rows: int = Field(default=500, ge=1)
    max_error_rate: float = Field(default=0.01, ge=0, lt=1)
    latency_ratio: float = Field(default=3.0, ge=1)
    latency_slack_ms: float = Field(default=10.0, ge=0)
    max_score_shift: float = Field(default=0.2, gt=0, lt=1)
    max_invalid_rate: float = Field(default=0.01, ge=0, lt=1)
    max_estimated_drop: float = Field(default=0.02, ge=0, lt=1)
    max_realized_drop: float = Field(default=0.01, ge=0, lt=1)
    min_labelled_rows: int = Field(default=0, ge=0)
    ab_min_effect: float = Field(default=0.01, gt=0)


class FairnessSettings(BaseModel):
    """What the training gate holds a classifier to (see `prodml.train.fairness`)."""

    model_config = ConfigDict(extra="forbid")

    min_ratio: float = Field(default=0.8, gt=0, le=1)
    max_odds_difference: float = Field(default=0.1, ge=0, le=1)
    min_group_rows: int = Field(default=100, ge=10)
    margin: float = Field(default=0.02, ge=0, lt=1)
    intersections: bool = True


class GovernanceSettings(BaseModel):
    """Roles, tokens, the audit log and fairness (see `prodml.govern`)."""

    model_config = ConfigDict(extra="forbid")

    auth: bool = False
    credentials: Path | None = None
    max_failures: int = Field(default=10, ge=1)
    audit_key: SecretStr | None = None
    anchors: Path | None = None
    audit_retention_days: int | None = Field(default=366, ge=183)
    restore_aliases: bool = False
    pii_key: SecretStr | None = None
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)


class TriggerSettings(BaseModel):
    """What starts a retrain (see DEFAULT_YAML, automate.policy.triggers)."""

    model_config = ConfigDict(extra="forbid")

    alerts: list[str] = Field(
        default_factory=lambda: ["performance-drop", "estimated-drop", "concept-drift"]
    )
    new_labels: int | None = Field(default=None, ge=1)
    new_labels_share: float | None = Field(default=0.5, gt=0)
    schedule_days: float | None = Field(default=None, gt=0)


class GuardSettings(BaseModel):
    """What holds a triggered retrain back (automate.policy.guards)."""

    model_config = ConfigDict(extra="forbid")

    cooldown_days: float = Field(default=60.0, ge=0)
    max_retrains: int = Field(default=4, ge=1)
    period_days: float = Field(default=90.0, gt=0)
    min_new_labels: int = Field(default=1000, ge=0)
    max_missing_rise: float = Field(default=0.5, gt=0, le=1)
    min_signal: float = Field(default=0.25, ge=0, lt=1)


class PolicySettings(BaseModel):
    """When a model is retrained and how the result goes live (automate.policy)."""

    model_config = ConfigDict(extra="forbid")

    triggers: TriggerSettings = Field(default_factory=TriggerSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    window: Literal["growing", "sliding", "weighted"] = "growing"
    window_days: float = Field(default=180.0, gt=0)
    half_life_days: float = Field(default=90.0, gt=0)
    holdout_days: float = Field(default=14.0, gt=0)
    min_gain: float = Field(default=0.0, gt=-1, lt=1)
    rollout: Literal["canary", "promote"] = "canary"
    steps: list[float] = Field(default_factory=lambda: [0.1, 0.5, 1.0], min_length=1)
    labelled_only_when: float | None = None
    feedback_rows: Literal["keep", "exclude"] = "keep"


class AutomateSettings(BaseModel):
    """Continuous training: the default policy and each model's departures from it."""

    model_config = ConfigDict(extra="forbid")

    every_seconds: float = Field(default=3600.0, gt=0)
    monitor: bool = True
    policy: PolicySettings = Field(default_factory=PolicySettings)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _policies_valid(self) -> AutomateSettings:
        for name in self.models:
            self.policy_for(name)  # a bad key or value is an error when the file is read
        return self

    def policy_for(self, model: str) -> PolicySettings:
        """Model `model`'s policy: the default with `models[model]` laid over it."""
        merged = _merge(self.policy.model_dump(), self.models.get(model, {}))
        try:
            return PolicySettings.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"automate.models.{model}: {problems}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid over `base`, nested mappings key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class UiSettings(BaseModel):
    """The console (`prodml ui`)."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(default=8765, ge=1, le=65535)
    in_server: bool = False
    servers: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """All settings of one workspace; build it with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    state_dir: Path = Path(".prodml")
    metadata_url: str | None = None
    artifacts_url: str | None = None
    tracking_uri: str | None = None
    online_store_url: str | None = None
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    streaming: StreamingSettings = Field(default_factory=StreamingSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    rollouts: RolloutSettings = Field(default_factory=RolloutSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    automate: AutomateSettings = Field(default_factory=AutomateSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _triggers_name_rules(self) -> Settings:
        rules = {rule.name for rule in self.monitoring.rules}
        for model in [None, *self.automate.models]:
            policy = self.automate.policy_for(model) if model else self.automate.policy
            unknown = sorted(set(policy.triggers.alerts) - rules)
            if unknown:
                where = f"automate.models.{model}" if model else "automate.policy"
                raise ValueError(
                    f"{where}.triggers.alerts names {unknown}, which no rule of "
                    f"monitoring.rules is called (rules: {', '.join(sorted(rules))})"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment must override them.
        return (env_settings, init_settings)


def load_settings(project_dir: str | os.PathLike[str] = ".") -> Settings:
    """Read `prodml.yaml` (if present) and `PRODML_*`, then fill every unset URL.

    Raises `ConfigError` naming the file, key or variable and the accepted values.
    """
    root = Path(project_dir).resolve()
    path = root / SETTINGS_FILE
    file_values = _read_yaml(path) if path.exists() else {}
    _refuse_unknown_env()
    try:
        settings = Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    except SettingsError as exc:  # e.g. PRODML_SERVING=foo, which is not a mapping
        raise ConfigError(
            f"{exc}. Nested settings are set one key at a time, e.g. PRODML_SERVING__PORT=9000."
        ) from None

    # Relative locations mean "in the project folder", wherever the command runs from.
    state = root / settings.state_dir
    anchors = state / "audit" / "anchors.jsonl"
    return settings.model_copy(
        update={
            "state_dir": state,
            "metadata_url": _anchor(settings.metadata_url, root)
            or f"sqlite:///{state / 'metadata.db'}",
            "artifacts_url": _anchor(settings.artifacts_url, root) or str(state / "artifacts"),
            "tracking_uri": _anchor(settings.tracking_uri, root)
            or f"sqlite:///{state / 'mlflow.db'}",
            "online_store_url": _anchor(settings.online_store_url, root)
            or f"sqlite:///{state / 'online.db'}",
            "governance": settings.governance.model_copy(
                update={"anchors": root / (settings.governance.anchors or anchors)}
            ),
        }
    )


def _anchor(location: str | None, root: Path) -> str | None:
    """`location` with a relative file path (plain, or inside a sqlite:/// URL) made absolute."""
    if not location:
        return location
    if location.startswith("sqlite:///"):
        database = location.removeprefix("sqlite:///")
        if database and database != ":memory:" and not Path(database).is_absolute():
            return f"sqlite:///{root / database}"
        return location
    if "://" not in location and not Path(location).is_absolute():
        return str(root / location)
    return location


def _refuse_unknown_env() -> None:
    # pydantic-settings ignores unknown variables; a typo there would silently do nothing.
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for name in sorted(os.environ):
        top = name.split("__", 1)[0]
        if name.startswith(ENV_PREFIX) and top not in known and name not in NOT_SETTINGS:
            raise ConfigError(
                f"environment variable {name}: unknown setting. Accepted: "
                f"{', '.join(sorted(known))} (nested keys joined by '__')."
            )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot be read as a UTF-8 text file ({exc}). Fix or remove it; "
            "`prodml init --force` writes a commented default."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: not valid YAML ({problem}). Fix the file, or delete it and run "
            "`prodml init` for a commented default."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings (key: value), got a {type(data).__name__}. "
            "Run `prodml init --force` to write a commented default."
        )
    return data


def _explain(exc: ValidationError, path: Path) -> str:
    """One line per bad setting, saying where it came from and what is accepted."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        env_name = ENV_PREFIX + "__".join(str(part) for part in err["loc"]).upper()
        where = f"environment variable {env_name}" if env_name in os.environ else f"{path}"
        if err["type"] == "extra_forbidden":
            parent = _model_at(err["loc"][:-1])
            accepted = ", ".join(sorted(parent.model_fields))
            lines.append(f"{where}: unknown setting '{key}'. Accepted here: {accepted}.")
        else:
            lines.append(
                f"{where}: setting '{key}' is invalid: {err['msg']} (got {err['input']!r})."
            )
    return "\n".join(lines)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model
