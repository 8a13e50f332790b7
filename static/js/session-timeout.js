/*
 * The idle warning. The server ends a session that has made no request for a while
 * (accounts.middleware.SessionPolicyMiddleware); this script warns shortly before, offers to stay
 * signed in, and when the time is up takes the page to the sign-in page, where the server says why.
 *
 * <body> carries the numbers (accounts/templatetags/session_timer.py). A page load starts the countdown
 * at the full limit; htmx and "Stay signed in" responses carry X-Session-Idle-Seconds, the server's own
 * count, and the countdown follows it. (The server notes activity at most once a minute, so after a page
 * load it may end the session up to a minute before this countdown does; going to the sign-in page
 * after the server has ended the session is what matters, and that always holds.) Other tabs of the
 * same site are told through localStorage.
 */
(function () {
  "use strict";

  var body = document.body;
  var keepaliveUrl = body.dataset.sessionKeepaliveUrl;
  if (!keepaliveUrl) {
    return;
  }
  var loginUrl = body.dataset.sessionLoginUrl;
  var warningSeconds = Number(body.dataset.sessionWarningSeconds);
  var IDLE_HEADER = "X-Session-Idle-Seconds";
  var STORAGE_KEY = "pit-session-deadline";
  // The server ends the session once the idle limit is *passed*; going a moment later makes sure
  // the sign-in page finds it ended.
  var MARGIN_MS = 2000;

  var deadline = 0;
  var warnTimer = null;
  var endTimer = null;
  var warning = null;

  // The CSRF cookie is HttpOnly; the layout gives htmx the token in <body hx-headers>, so use that one.
  function csrfToken() {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function describe(seconds) {
    if (seconds >= 90) {
      return Math.round(seconds / 60) + " minutes";
    }
    if (seconds >= 60) {
      return "1 minute";
    }
    return seconds + (seconds === 1 ? " second" : " seconds");
  }

  function buildWarning() {
    var box = document.createElement("div");
    box.className = "alert alert-warning shadow position-fixed top-0 start-50 translate-middle-x mt-3 z-3 d-none";
    box.id = "session-timeout-warning";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.className = "mb-2";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-primary btn-sm";
    button.textContent = "Stay signed in";
    button.addEventListener("click", staySignedIn);
    box.append(text, button);
    body.append(box);
    return { box: box, text: text, button: button };
  }

  function showWarning() {
    var secondsLeft = Math.max(Math.round((deadline - Date.now()) / 1000), 0);
    warning.text.textContent = "You will be signed out in " + describe(secondsLeft) + " for your privacy.";
    warning.box.classList.remove("d-none");
    warning.button.focus();
  }

  function hideWarning() {
    warning.box.classList.add("d-none");
  }

  function goToSignIn() {
    var here = window.location.pathname + window.location.search;
    window.location.assign(loginUrl + "?next=" + encodeURIComponent(here));
  }

  function schedule(newDeadline, fromOtherTab) {
    deadline = newDeadline;
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    hideWarning();
    var left = deadline - Date.now();
    warnTimer = window.setTimeout(showWarning, Math.max(left - warningSeconds * 1000, 0));
    endTimer = window.setTimeout(goToSignIn, Math.max(left, 0) + MARGIN_MS);
    if (!fromOtherTab) {
      try {
        window.localStorage.setItem(STORAGE_KEY, String(deadline));
      } catch (error) {
        // Storage refused (private mode): this tab still keeps its own countdown.
      }
    }
  }

  function scheduleFromSeconds(seconds) {
    if (seconds !== null && seconds !== "" && !Number.isNaN(Number(seconds))) {
      schedule(Date.now() + Number(seconds) * 1000, false);
    }
  }

  function staySignedIn() {
    warning.button.disabled = true;
    window
      .fetch(keepaliveUrl, {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: { "X-CSRFToken": csrfToken() },
      })
      .then(function (response) {
        if (response.status === 204) {
          scheduleFromSeconds(response.headers.get(IDLE_HEADER));
        } else {
          // The session had ended already (or the server refused): sign in again.
          goToSignIn();
        }
      })
      .catch(goToSignIn)
      .finally(function () {
        warning.button.disabled = false;
      });
  }

  warning = buildWarning();
  scheduleFromSeconds(body.dataset.sessionIdleLimit);

  // htmx requests are activity too: the server answered with the new countdown.
  body.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr) {
      scheduleFromSeconds(xhr.getResponseHeader(IDLE_HEADER));
    }
  });

  // Activity in another tab keeps this session alive as well: follow its later deadline.
  window.addEventListener("storage", function (event) {
    if (event.key === STORAGE_KEY && Number(event.newValue) > deadline) {
      schedule(Number(event.newValue), true);
    }
  });
})();
