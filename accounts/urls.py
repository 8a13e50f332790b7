from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import mfa_views, security_views, views
from accounts.forms import BackgroundPasswordResetForm

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/enrol/", mfa_views.mfa_enrol, name="mfa_enrol"),
    path("accounts/mfa/verify/", mfa_views.mfa_verify, name="mfa_verify"),
    path("accounts/mfa/backup-codes/", mfa_views.mfa_backup_codes, name="mfa_backup_codes"),
    path("accounts/mfa/turn-off/", mfa_views.mfa_turn_off, name="mfa_turn_off"),
    path("accounts/security/", mfa_views.account_security, name="account_security"),
    path("accounts/session/keepalive/", security_views.session_keepalive, name="session_keepalive"),
    path("accounts/manage/", security_views.security_users, name="security_users"),
    path("accounts/manage/<id:pk>/", security_views.security_user, name="security_user"),
    path("accounts/manage/addresses/unlock/", security_views.security_unlock_address, name="security_unlock_address"),
    path("accounts/manage/<id:pk>/unlock/", security_views.security_unlock, name="security_unlock"),
    path(
        "accounts/manage/<id:pk>/sign-out-everywhere/",
        security_views.security_revoke_sessions,
        name="security_revoke_sessions",
    ),
    path("accounts/manage/<id:pk>/reset-second-factor/", security_views.security_reset_mfa, name="security_reset_mfa"),
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            form_class=BackgroundPasswordResetForm, success_url=reverse_lazy("password_reset_done")
        ),
        name="password_reset",
    ),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
