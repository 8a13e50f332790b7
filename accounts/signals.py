"""Sign-in, sign-out, lockout and role changes, written to the audit trail as they happen.

Connected in AccountsConfig.ready(). The handlers never record a password or anything typed into
the form but the username; when a signal brings no request, audit.context.current_request() gives
the one being served (if any), for the acting user and the client address.
"""

from axes.signals import user_locked_out
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_save, pre_save

from accounts import session_policy
from accounts.models import User
from audit.context import current_request
from audit.models import Action, Source
from audit.services import record

# Flags that grant or take away access as much as a role does.
ACCESS_FLAGS = ("is_staff", "is_superuser", "is_active")


def on_signed_in(sender, request, user, **kwargs) -> None:
    session_policy.start(request.session, user)
    record(Action.LOGIN, request=request, actor=user)


def on_signed_out(sender, request, user, **kwargs) -> None:
    # A session ended by the time-out rules has its own SESSION_EXPIRED event.
    if user is None or getattr(request, "session_end_reason", None):
        return
    record(Action.LOGOUT, request=request, actor=user)


def on_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    username = str(credentials.get("username") or "")
    record(Action.LOGIN_FAILED, request=_served(request), username=username)


def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    record(Action.LOCKED_OUT, request=_served(request), username=username or "")


def _served(request):
    """The request as the middleware saw it (with .user); a bare one from authenticate() in code or
    tests has none, so fall back to the request being served, if any."""
    return request if hasattr(request, "user") else current_request()


def on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """User.groups changed, from either side (user.groups.add(...) or group.user_set.add(...))."""
    if action == "pre_clear":
        # The links are gone once the clear has run: keep their ids for post_clear.
        related = instance.user_set if reverse else instance.groups
        instance._cleared_pks = set(related.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop("_cleared_pks", set())
    elif action not in ("post_add", "post_remove"):
        return
    key = "added" if action == "post_add" else "removed"
    if reverse:
        for user in User.objects.filter(pk__in=pk_set):
            _record_role_change(user, {key: [instance.name]})
        return
    names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
    if names:
        _record_role_change(instance, {key: names})


def remember_access_flags(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Keep the flags as stored before this save, for compare_access_flags."""
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(ACCESS_FLAGS):
        # Most saves (last_login at sign-in, a password change) touch no flag: no query for them.
        return
    instance._stored_access_flags = sender.objects.filter(pk=instance.pk).values(*ACCESS_FLAGS).first()


def compare_access_flags(sender, instance, created=False, raw=False, **kwargs) -> None:
    stored = instance.__dict__.pop("_stored_access_flags", None)
    if created or raw or stored is None:
        return
    changed = {
        flag: {"from": stored[flag], "to": getattr(instance, flag)}
        for flag in ACCESS_FLAGS
        if stored[flag] != getattr(instance, flag)
    }
    if changed:
        _record_role_change(instance, {"flags": changed})


def _record_role_change(user, detail: dict) -> None:
    request = current_request()
    if request is not None:
        record(Action.ROLE_CHANGED, request=request, obj=user, detail=detail)
    else:
        # Outside a request roles change from the shell or a management command.
        record(Action.ROLE_CHANGED, obj=user, detail=detail, source=Source.COMMAND)


def connect() -> None:
    user_logged_in.connect(on_signed_in, dispatch_uid="accounts.audit.signed_in")
    user_logged_out.connect(on_signed_out, dispatch_uid="accounts.audit.signed_out")
    user_login_failed.connect(on_sign_in_failed, dispatch_uid="accounts.audit.sign_in_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="accounts.audit.locked_out")
    m2m_changed.connect(on_groups_changed, sender=User.groups.through, dispatch_uid="accounts.audit.groups")
    pre_save.connect(remember_access_flags, sender=User, dispatch_uid="accounts.audit.flags_before")
    post_save.connect(compare_access_flags, sender=User, dispatch_uid="accounts.audit.flags_after")
