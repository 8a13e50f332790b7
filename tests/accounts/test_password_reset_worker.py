import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.worker


def test_reset_email_is_sent_by_a_real_worker_and_its_link_sets_a_new_password(
    celery_worker_process, front_desk, client, wait_for
):
    response = client.post(reverse("password_reset"), {"email": front_desk.email})
    assert response.status_code == 302

    mail_dir = celery_worker_process.mail_dir
    # The file backend creates the file before writing it: wait until the message is in it.
    wait_for(
        lambda: mail_dir.exists() and any("To:" in path.read_text() for path in mail_dir.iterdir()),
        timeout=30,
        what="the reset email",
        log=celery_worker_process.log,
    )
    [message_file] = list(mail_dir.iterdir())
    message = message_file.read_text()
    assert f"To: {front_desk.email}" in message

    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", message).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    new_password = "a-brand-new-passphrase"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302
    front_desk.refresh_from_db()
    assert front_desk.check_password(new_password)
