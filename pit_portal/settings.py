"""PIT Portal settings: one module, configured from the environment.

Every value that differs between a laptop, CI and production is read from an
environment variable; the defaults are the safe ones (DEBUG off, secure cookies on).
`make run` and `make test` export what local development needs.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PIT_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# A development key is only acceptable while DEBUG is on; production must set its own.
SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "pit_portal.views.csrf_failure"
SITE_URL = env("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "pit_portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "phonenumber_field",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "pgtrigger",
    "pghistory",
    "django_filters",
    "accounts",
    "patients",
    "assessments",
    "treatments",
    "scheduling",
    "documents",
    "portal",
    "outcomes",
    "safety",
    "interop",
    "imports",
    "audit",
    "pit_portal.backups",
    "pit_portal.outbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "audit.context.CurrentRequestMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the user is known (the refusal page keeps its menu), before anything reads the values.
    "pit_portal.middleware.RefuseControlCharactersMiddleware",
    # Records refusals (403, someone else's id) in the audit trail; the response is unchanged.
    "audit.middleware.AccessDeniedAuditMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Time-outs and "sign out everywhere" first: an expired session never reaches the MFA check.
    "accounts.middleware.SessionPolicyMiddleware",
    "accounts.middleware.RequireMFAMiddleware",
    # Every write's history row carries the acting user and the request path.
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during sign-in into its response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed sign-ins and refuses a locked-out username or address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend's password check; permissions from the roles accounts/roles.py defines.
    "accounts.backends.RoleBackend",
]

ROOT_URLCONF = "pit_portal.urls"
WSGI_APPLICATION = "pit_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pit_portal.context_processors.clinic",
            ],
        },
    },
]

# PostgreSQL only: search, constraints and triggers rely on it. `make run` and
# `make test` start an embedded server and export its URL when none is given.
DATABASE_URL = env("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "Set DATABASE_URL (postgres://...), or use `make run` / `make test`, "
        "which start an embedded PostgreSQL when it is unset."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("PIT Portal needs PostgreSQL; DATABASE_URL names another engine.")
# Behind PgBouncer in transaction pooling mode (DATABASE_URL names PgBouncer), a server session lasts one
# transaction: nothing may rely on it outliving that. Django sends no prepared statements (its prepare_threshold
# is None) and PgBouncer re-applies the time zone Django sets on each server connection it lends; what is left is
# QuerySet.iterator()'s server-side cursor, which Django holds open across transactions (WITH HOLD) in
# autocommit, so it is turned off. Backups and restores use DATABASE_DIRECT_URL (pg_dump's session settings and
# exported snapshot need one server session); see docs/architecture.md.
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", False)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_TRANSACTION_POOLING
# The same database without the pooler, used by `manage.py backup`/`restore` only (never by a request or a task).
# Tests mirror it onto the test database.
DATABASE_DIRECT_URL = env("DATABASE_DIRECT_URL", DATABASE_URL)
DATABASES["direct"] = dj_database_url.parse(DATABASE_DIRECT_URL)
DATABASES["direct"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("CLINIC_TIMEZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

# The clinic itself: letterhead, contact details, phone numbering region.
CLINIC_NAME = env("CLINIC_NAME", "PIT Clinic")
CLINIC_PHONE = env("CLINIC_PHONE", "")
CLINIC_EMAIL = env("CLINIC_EMAIL", "")
CLINIC_ADDRESS = env("CLINIC_ADDRESS", "")
PHONENUMBER_DEFAULT_REGION = env("CLINIC_PHONE_REGION", "GB")
PHONENUMBER_DEFAULT_FORMAT = "INTERNATIONAL"
# How long signed clinical records are kept after an adult's last visit (patients.retention, which also has the
# rule for patients who were minors then). Erasure before the end of it is refused with the date it ends.
RECORD_RETENTION_YEARS = int(env("RECORD_RETENTION_YEARS", "8"))

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Clinical documents never live under a public URL: they are served by views that
# authorise and audit each download. On one machine they are files under DOCUMENTS_ROOT; with several hosts,
# objects in a private S3-compatible bucket (documents.object_storage; README, "Running it in production").
DOCUMENTS_ROOT = Path(env("DOCUMENTS_ROOT", str(VAR_DIR / "documents")))
# `manage.py backup` (make backup) writes a private timestamped folder here: database dump, documents, manifest.
BACKUP_DIR = Path(env("BACKUP_DIR", str(VAR_DIR / "backups")))
# The audit chain's HMAC key (audit.chain). Never stored in the database, so its owner cannot recompute the chain
# after a change. Unset: derived from SECRET_KEY, so rotating SECRET_KEY would fail every older event's check;
# set it in production and keep it for as long as the trail is kept.
AUDIT_CHAIN_KEY = env("AUDIT_CHAIN_KEY", "")
# The chain's head (newest event id and hash), appended every few minutes by celery beat and read by the check:
# keep it where the database's owner cannot write (audit.heads).
AUDIT_HEAD_FILE = Path(env("AUDIT_HEAD_FILE", str(VAR_DIR / "audit-head.log")))
# Private documents are readable by the portal's own user only.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
# These names all mean the bucket, through the private backend (which sets what the clinic needs: no ACL, no URLs,
# a SHA-256 kept by S3, short time-outs). Credentials are boto3's own: AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY from the environment, or the host's role; they are never copied into settings.
S3_BACKENDS = {"s3", "storages.backends.s3.S3Storage", "documents.object_storage.PrivateS3Storage"}


def documents_storage() -> dict:
    """STORAGES["default"] from the environment (a function, so tests build a bucket's entry the same way)."""
    backend = env("DOCUMENTS_STORAGE_BACKEND", "filesystem")
    if backend == "filesystem":
        backend = "django.core.files.storage.FileSystemStorage"
    if backend.endswith("FileSystemStorage"):
        return {"BACKEND": backend, "OPTIONS": {"location": env("DOCUMENTS_ROOT", str(VAR_DIR / "documents"))}}
    if backend not in S3_BACKENDS:
        return {"BACKEND": backend, "OPTIONS": {}}
    options = {
        "bucket_name": env("DOCUMENTS_S3_BUCKET"),
        # Unset for AWS itself; the address of any other S3-compatible store.
        "endpoint_url": env("DOCUMENTS_S3_ENDPOINT_URL", "") or None,
        "region_name": env("DOCUMENTS_S3_REGION", "") or None,
        # Seconds; `max_attempts` counts the first try. A store that does not answer fails a download in seconds.
        "connect_timeout": float(env("DOCUMENTS_S3_CONNECT_TIMEOUT", "3")),
        "read_timeout": float(env("DOCUMENTS_S3_READ_TIMEOUT", "10")),
        "max_attempts": int(env("DOCUMENTS_S3_MAX_ATTEMPTS", "3")),
    }
    return {"BACKEND": "documents.object_storage.PrivateS3Storage", "OPTIONS": options}


STORAGES = {
    "default": documents_storage(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email: console by default; SMTP when EMAIL_HOST is set.
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = int(env("EMAIL_PORT", "587"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
# Seconds before SMTP gives up; without it a hung mail server holds a worker until the task's time limit.
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "20"))
# The patient portal: how long an invitation link works, how late a patient may cancel online,
# and how far ahead the pre-visit check-in opens.
PORTAL_INVITE_DAYS = int(env("PORTAL_INVITE_DAYS", "7"))
PORTAL_CANCEL_NOTICE_HOURS = int(env("PORTAL_CANCEL_NOTICE_HOURS", "24"))
PORTAL_CHECK_IN_DAYS = int(env("PORTAL_CHECK_IN_DAYS", "7"))
# A patient's copy of their record (portal.record_copy): downloadable this many days after it is ready, then
# deleted; a new one may be asked for this many hours after the last.
PORTAL_RECORD_COPY_DAYS = int(env("PORTAL_RECORD_COPY_DAYS", "7"))
PORTAL_RECORD_COPY_EVERY_HOURS = int(env("PORTAL_RECORD_COPY_EVERY_HOURS", "24"))
# The longest a between-visit link's signature is accepted (each request also has its own, shorter, expiry).
MEASURE_LINK_MAX_AGE = int(env("MEASURE_LINK_MAX_AGE", str(60 * 24 * 3600)))
# Day-before appointment reminders go out from this local hour (0-23) onwards.
REMINDER_SEND_HOUR = int(env("REMINDER_SEND_HOUR", "10"))
if not 0 <= REMINDER_SEND_HOUR <= 23:
    raise ImproperlyConfigured("REMINDER_SEND_HOUR must be an hour from 0 to 23.")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"{CLINIC_NAME} <no-reply@localhost>")

# Celery. Without a broker URL, kombu's filesystem transport under var/ lets a real
# worker run with no server to install.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, str | int] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
    }
    # kombu expects the folders to exist; both the web process and the worker need them.
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
else:
    # Redis hands an unacknowledged message out again after this long. It must outlast the longest wait a worker
    # holds a message for (a retry's countdown, at most DOCUMENTS_RETRY_BACKOFF_MAX) plus a task's hard time limit,
    # or a waiting retry would run twice. Work a killed worker held is not left to this: the sweepers find it by
    # its row within minutes (see DOCUMENTS_STALE_AFTER_SECONDS).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1200}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "celery")


def _next_redis_database(url: str) -> str:
    """The broker's Redis server, one database number up: the cache never shares a database with the queues, so
    clearing it (a restore does) can never drop a task."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number + 1) % 16}"))


# The shared cache (the calendars' rendered grids, scheduling.views.calendar_cache): Redis when CACHE_URL names
# it, or else the broker's Redis server (the next database number), so every worker on every host serves what one
# rendered. With neither (the embedded default), each process has its own memory cache, through the same code.
_BROKER_IS_REDIS = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
CACHE_URL = env("CACHE_URL", _next_redis_database(CELERY_BROKER_URL) if _BROKER_IS_REDIS else "")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if CACHE_URL
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": CACHE_URL or "pit-portal",
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "pit"),
    }
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# Results live in the database rows the tasks write, never in the broker.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A warm PDF worker is about 125 MB; a pool process above this (in KiB) is replaced after its task.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = int(env("CELERY_WORKER_MAX_MEMORY_PER_CHILD", "400000"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE

# Recovery of background work (README, "What recovers by itself"). A document whose rendering run has held it
# this long is taken for lost (a killed worker): longer than the render task's hard time limit (60 s), so a run
# still in progress is never doubled. The sweeper runs this often, so a lost document is sent again within
# stale + sweep seconds, and ready well inside three minutes.
DOCUMENTS_STALE_AFTER_SECONDS = int(env("DOCUMENTS_STALE_AFTER_SECONDS", "75"))
DOCUMENTS_SWEEP_SECONDS = int(env("DOCUMENTS_SWEEP_SECONDS", "30"))
# Transient failures (storage, database, network) are retried after about 1, 2, 4, 8 and then 15 minutes at most,
# with jitter; see documents.tasks for the arithmetic.
DOCUMENTS_RETRY_BACKOFF = int(env("DOCUMENTS_RETRY_BACKOFF", "60"))
DOCUMENTS_RETRY_BACKOFF_MAX = int(env("DOCUMENTS_RETRY_BACKOFF_MAX", "900"))
# Emails owed (pit_portal.outbox): one unsent this long after it was last sent to the broker is sent again by the
# sweeper, which runs this often; so an email a broker flush lost goes within two minutes. Transient failures
# are retried as documents are.
OUTBOX_RESEND_AFTER_SECONDS = int(env("OUTBOX_RESEND_AFTER_SECONDS", "60"))
OUTBOX_SWEEP_SECONDS = int(env("OUTBOX_SWEEP_SECONDS", "60"))
# Registry exports (outcomes.registry): one held by its run this long is taken for lost (a killed worker), and one
# pending this long for a lost message; longer than the export task's hard time limit (600 s), so a run still
# building is never doubled. The sweeper runs this often.
REGISTRY_EXPORT_STALE_AFTER_SECONDS = int(env("REGISTRY_EXPORT_STALE_AFTER_SECONDS", "660"))
REGISTRY_EXPORT_SWEEP_SECONDS = int(env("REGISTRY_EXPORT_SWEEP_SECONDS", "60"))
# Patients' copies of their record (portal.record_copy): as registry exports, against the copy task's hard time
# limit (300 s). The same sweeper deletes the files of copies past their expiry.
RECORD_COPY_STALE_AFTER_SECONDS = int(env("RECORD_COPY_STALE_AFTER_SECONDS", "360"))
RECORD_COPY_SWEEP_SECONDS = int(env("RECORD_COPY_SWEEP_SECONDS", "60"))
# FHIR bulk exports (interop.bulk): patients per chunk (one part per resource type each), seconds a run writes
# before handing the export on, and how long a run's claim (moved after every chunk) or a message may stand still
# before the sweeper, running this often, sends the export again to resume it.
FHIR_BULK_CHUNK_PATIENTS = int(env("FHIR_BULK_CHUNK_PATIENTS", "500"))
FHIR_BULK_SLICE_SECONDS = int(env("FHIR_BULK_SLICE_SECONDS", "120"))
FHIR_BULK_STALE_AFTER_SECONDS = int(env("FHIR_BULK_STALE_AFTER_SECONDS", "180"))
FHIR_BULK_SWEEP_SECONDS = int(env("FHIR_BULK_SWEEP_SECONDS", "60"))
# CSV imports (imports): the largest file and the most rows one import takes, and, as for registry exports, how
# long a run may hold an import (longer than its task's hard limit, 600 s) and how often the sweeper looks.
IMPORTS_MAX_FILE_BYTES = int(env("IMPORTS_MAX_FILE_BYTES", str(10 * 1024 * 1024)))
IMPORTS_MAX_ROWS = int(env("IMPORTS_MAX_ROWS", "50000"))
IMPORTS_STALE_AFTER_SECONDS = int(env("IMPORTS_STALE_AFTER_SECONDS", "660"))
IMPORTS_SWEEP_SECONDS = int(env("IMPORTS_SWEEP_SECONDS", "60"))

# Celery beat (exactly one per installation). Here, not in pit_portal/celery.py, so that importing the Celery
# app reads no setting: `python -m pit_portal.embedded_db` runs before any DATABASE_URL exists.
# Every quarter hour rather than once a day: an appointment booked this afternoon for tomorrow still gets its
# reminder, and a beat or worker that was down at the send hour catches up. Repeats send nothing twice.
# A sweep tick still queued when the next is due is redundant and expires, after this much more: a broker that
# polls (the filesystem transport polls every second) hands a tick over late, and it must still run.
SWEEP_TICK_SLACK_SECONDS = 10
CELERY_BEAT_SCHEDULE = {
    "send-due-appointment-reminders": {
        "task": "scheduling.tasks.send_due_reminders",
        "schedule": crontab(minute="*/15"),
        # A tick still queued when the next one is due is redundant; drop it instead of piling up.
        "options": {"expires": 14 * 60},
    },
    # The database is the source of truth for pending documents: re-send any a lost message or a killed worker
    # left, within a couple of minutes (DOCUMENTS_STALE_AFTER_SECONDS + DOCUMENTS_SWEEP_SECONDS).
    "sweep-pending-documents": {
        "task": "documents.tasks.sweep_pending_documents",
        "schedule": timedelta(seconds=DOCUMENTS_SWEEP_SECONDS),
        "options": {"expires": DOCUMENTS_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # The database is the source of truth for emails owed: re-send any a lost message left unsent.
    "sweep-outbox": {
        "task": "pit_portal.outbox.tasks.sweep_outbox",
        "schedule": timedelta(seconds=OUTBOX_SWEEP_SECONDS),
        "options": {"expires": OUTBOX_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # Every stored PDF is read back in turn; a damaged or missing one is rebuilt before anyone needs it.
    "verify-stored-documents": {
        "task": "documents.tasks.verify_stored_documents",
        "schedule": crontab(minute=40),
        "options": {"expires": 50 * 60},
    },
    # Between-visit questions: made and owed as they fall due, each emailed once (outcomes.tasks).
    "send-due-measure-requests": {
        "task": "outcomes.tasks.send_due_measure_requests",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60},
    },
    # The database is the source of truth for registry exports: re-send any a lost message or a killed worker left.
    "sweep-registry-exports": {
        "task": "outcomes.tasks.sweep_registry_exports",
        "schedule": timedelta(seconds=REGISTRY_EXPORT_SWEEP_SECONDS),
        "options": {"expires": REGISTRY_EXPORT_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # Patients' copies of their record: re-send what a lost message or a killed worker left; delete expired files.
    "sweep-record-copies": {
        "task": "portal.tasks.sweep_record_copies",
        "schedule": timedelta(seconds=RECORD_COPY_SWEEP_SECONDS),
        "options": {"expires": RECORD_COPY_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # The same for FHIR bulk exports: one a lost message or a killed worker left is resumed.
    "sweep-fhir-bulk-exports": {
        "task": "interop.tasks.sweep_bulk_exports",
        "schedule": timedelta(seconds=FHIR_BULK_SWEEP_SECONDS),
        "options": {"expires": FHIR_BULK_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # The database is the source of truth for CSV imports owed: re-send any a lost message or a killed worker left.
    "sweep-imports": {
        "task": "imports.tasks.sweep_imports",
        "schedule": timedelta(seconds=IMPORTS_SWEEP_SECONDS),
        "options": {"expires": IMPORTS_SWEEP_SECONDS + SWEEP_TICK_SLACK_SECONDS},
    },
    # The audit chain's head, outside the database: events cut from its end are named by `audit_verify`.
    "record-audit-chain-head": {
        "task": "audit.tasks.record_chain_head",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
}
OUTBOX_RETRY_BACKOFF = int(env("OUTBOX_RETRY_BACKOFF", "60"))
OUTBOX_RETRY_BACKOFF_MAX = int(env("OUTBOX_RETRY_BACKOFF_MAX", "900"))
# Stored files whose checksum the scheduled check verifies per run (oldest check first).
DOCUMENTS_CHECKSUM_BATCH = int(env("DOCUMENTS_CHECKSUM_BATCH", "200"))

# Production hardening. SECURE defaults to "not DEBUG" so a forgotten variable
# errs on the safe side.
SECURE = env_bool("SECURE", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = SECURE and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy: scripts and stylesheets from our own static files only, never inline.
# Style *attributes* are allowed: the calendar positions its blocks with CSS variables in them, and
# a style attribute cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Sessions. The key rotates at sign-in (Django's login() does it) and sign-out flushes it. The idle
# and absolute limits are enforced by accounts.middleware.SessionPolicyMiddleware, which also signs a
# user out everywhere when a manager asks.
SESSION_IDLE_TIMEOUT_STAFF = int(env("SESSION_IDLE_TIMEOUT_STAFF", str(15 * 60)))
SESSION_IDLE_TIMEOUT_PATIENT = int(env("SESSION_IDLE_TIMEOUT_PATIENT", str(30 * 60)))
SESSION_ABSOLUTE_TIMEOUT = int(env("SESSION_ABSOLUTE_TIMEOUT", str(12 * 60 * 60)))
# Seconds before the idle limit at which the page warns and offers to stay signed in.
SESSION_IDLE_WARNING = int(env("SESSION_IDLE_WARNING", "120"))
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Second factor (django-otp): every staff user enrols a TOTP app; backup codes for a lost phone.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "PIT Portal")
OTP_BACKUP_CODE_COUNT = 10

# Lockout (django-axes, accounts.lockout): an account after LOGIN_FAILURE_LIMIT failures under its username,
# from any address; an address only after LOGIN_ADDRESS_FAILURE_LIMIT failures across usernames, so one
# person behind a clinic's shared address never locks out colleagues. A locked account stays locked, whatever
# the address or password, until a manager unlocks it or the cool-off passes.
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(env("LOGIN_ADDRESS_FAILURE_LIMIT", "30"))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_HANDLER = "accounts.lockout.AccountAndAddressLockout"
# axes warns that locking by username alone lets an attacker rotate user agents or cookies; the username's
# failures are counted across every address and user agent, and the address has its own limit in the handler.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# Reset emails one address may be sent in an hour, however often the form is sent for it.
PASSWORD_RESET_EMAILS_PER_HOUR = int(env("PASSWORD_RESET_EMAILS_PER_HOUR", "3"))
AXES_COOLOFF_TIME = int(env("LOGIN_LOCKOUT_HOURS", "1")) or None
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Behind the reverse proxy the client address is the hop our outermost proxy appended to
# X-Forwarded-For: with PROXY_COUNT proxies in front of the app (each appending the address it was
# connected from), that is the PROXY_COUNT-th entry from the right. Anything further left was written
# by the client and is not trusted. In ipware's terms: the chain reads client-first ("left-most"), and
# proxy_count is the number of entries to the right of the client, i.e. PROXY_COUNT - 1. Not strict:
# a client may put any number of entries in front, and strict mode would then skip the header
# (falling back to the proxy's own address, which would lock out everyone at once).
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = max(int(env("PROXY_COUNT", "1")) - 1, 0) if BEHIND_PROXY else None
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if BEHIND_PROXY else ("REMOTE_ADDR",)
IPWARE_STRICT = False

# Change history (django-pghistory): trigger-based, so bulk updates and raw SQL are recorded too.
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # WeasyPrint logs each layout step at INFO; only its warnings matter.
    "loggers": {
        "weasyprint.progress": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; the audit trail records them instead.
        "axes": {"level": "WARNING"},
        # The audit chain's head is kept in the log whatever LOG_LEVEL says (audit.heads).
        "audit.chain": {"level": "INFO"},
    },
}
