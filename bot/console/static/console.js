/* kefu console: the one hand-written script (no build step, nothing from a CDN).

   Inside Telegram, the Mini App signs in with the initData Telegram put in the launch URL's hash
   (#tgWebAppData=...), or window.Telegram.WebApp.initData where Telegram's own script is present;
   it keeps the bearer token and CSRF token it gets in sessionStorage and adds them to every htmx
   request (the body is hx-boost'ed, so links and forms are htmx requests too): Telegram Web opens
   Mini Apps in a cross-site iframe, where cookies are not sent. In a browser signed in by a login
   link, the cookie does it and the CSRF token comes from the page's <meta name="csrf-token">.

   Links to files (CSV) carry data-download="name.csv": they are fetched with the same headers and
   saved, since a plain link would go without the token. */
(function () {
  "use strict";

  var TOKEN = "kefu-console-token";
  var CSRF = "kefu-console-csrf";
  var INIT_DATA = "kefu-console-init-data";
  var store = window.sessionStorage;
  var reauthenticating = false;

  function launchParams() {
    return new URLSearchParams(window.location.hash.slice(1));
  }

  function telegramInitData() {
    var webApp = window.Telegram && window.Telegram.WebApp;
    if (webApp && webApp.initData) {
      return webApp.initData;
    }
    return launchParams().get("tgWebAppData") || "";
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return store.getItem(CSRF) || (meta && meta.content) || "";
  }

  function authHeaders() {
    var headers = {};
    var token = store.getItem(TOKEN);
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    var csrf = csrfToken();
    if (csrf) {
      headers["X-CSRF-Token"] = csrf;
    }
    return headers;
  }

  /* Tell Telegram's app the page is ready and may take the whole height (what Telegram's script
     does with postEvent, without loading it). */
  function telegramEvent(eventType) {
    var data = JSON.stringify({ eventType: eventType, eventData: {} });
    try {
      if (window.TelegramWebviewProxy) {
        window.TelegramWebviewProxy.postEvent(eventType, "{}");
      } else if (window.external && "notify" in window.external) {
        window.external.notify(data);
      } else if (window.parent !== window) {
        window.parent.postMessage(data, "https://web.telegram.org");
      }
    } catch (ignored) {
      /* not inside Telegram */
    }
  }

  /* Telegram's colours (tgWebAppThemeParams) as CSS variables --tg-bg-color ... (console.css). */
  function applyTheme() {
    var raw = launchParams().get("tgWebAppThemeParams");
    if (!raw) {
      return;
    }
    var theme;
    try {
      theme = JSON.parse(raw);
    } catch (ignored) {
      return;
    }
    Object.keys(theme).forEach(function (key) {
      var value = String(theme[key]);
      if (/^[a-z_]+$/.test(key) && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
        document.documentElement.style.setProperty("--tg-" + key.replace(/_/g, "-"), value);
      }
    });
  }

  function open(path) {
    window.history.replaceState(null, "", path);
    return htmx.ajax("GET", path, { target: "body", swap: "innerHTML" });
  }

  function say(message) {
    var place = document.getElementById("console-entry-message");
    if (place) {
      place.textContent = message;
      place.classList.add("console-refused-message");
    }
  }

  function postInitData(initData) {
    var body = new URLSearchParams();
    body.set("initData", initData);
    return fetch("/console/auth", { method: "POST", body: body, credentials: "same-origin" }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) {
          throw new Error(answer.error || String(response.status));
        }
        store.setItem(TOKEN, answer.token);
        store.setItem(CSRF, answer.csrf);
        store.setItem(INIT_DATA, initData);
      });
    });
  }

  function signIn() {
    if (!document.getElementById("console-entry")) {
      return;
    }
    applyTheme();
    telegramEvent("web_app_ready");
    telegramEvent("web_app_expand");
    var initData = telegramInitData();
    if (!initData) {
      if (store.getItem(TOKEN)) {
        open("/console/tickets");
      } else {
        window.location.replace("/console/tickets"); /* a browser: the cookie of a login link */
      }
      return;
    }
    postInitData(initData).then(function () {
      open("/console/tickets");
    }, function (error) {
      say(error.message);
    });
  }

  document.addEventListener("htmx:configRequest", function (event) {
    Object.assign(event.detail.headers, authHeaders());
  });

  /* Back and forward: htmx keeps no copies of pages (they hold customers' data), so it asks the
     server again, with the token. */
  document.addEventListener("htmx:historyCacheMiss", function (event) {
    var headers = authHeaders();
    Object.keys(headers).forEach(function (name) {
      event.detail.xhr.setRequestHeader(name, headers[name]);
    });
  });

  /* A session that expired while the Mini App stayed open: sign in again once with the same
     initData (refused when it is too old; then the refusal shows). */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var initData = store.getItem(INIT_DATA);
    if (event.detail.xhr.status !== 401 || !initData || reauthenticating) {
      return;
    }
    event.detail.shouldSwap = false;
    reauthenticating = true;
    store.removeItem(TOKEN);
    postInitData(initData).then(function () {
      return open(window.location.pathname + window.location.search);
    }, function () {
      store.removeItem(INIT_DATA);
      return open(window.location.pathname + window.location.search);
    }).then(function () {
      reauthenticating = false;
    });
  });

  /* Boosted navigations swap the body only: the stylesheets and scripts a page names in its head
     ({% block head %}) are added to this page's head, once each. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var response = event.detail.serverResponse;
    if (typeof response !== "string" || response.indexOf("<head") === -1) {
      return;
    }
    var head = new DOMParser().parseFromString(response, "text/html").head;
    head.querySelectorAll('link[rel="stylesheet"][href], script[src]').forEach(function (element) {
      var isLink = element.tagName === "LINK";
      var url = element.getAttribute(isLink ? "href" : "src");
      var present = Array.prototype.some.call(document.head.querySelectorAll(isLink ? "link[href]" : "script[src]"), function (known) {
        return known.getAttribute(isLink ? "href" : "src") === url;
      });
      if (present) {
        return;
      }
      var copy = document.createElement(isLink ? "link" : "script");
      if (isLink) {
        copy.rel = "stylesheet";
        copy.href = url;
      } else {
        copy.src = url;
      }
      document.head.appendChild(copy);
    });
  });

  document.addEventListener("htmx:responseError", function (event) {
    var banner = document.getElementById("console-error");
    if (banner && event.detail.xhr.status >= 500) {
      banner.hidden = false;
    }
  });
  document.addEventListener("htmx:sendError", function () {
    var banner = document.getElementById("console-error");
    if (banner) {
      banner.hidden = false;
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-download]");
    if (!link) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    fetch(link.href, { headers: authHeaders(), credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var save = document.createElement("a");
      save.href = url;
      save.download = link.getAttribute("data-download") || "";
      document.body.appendChild(save);
      save.click();
      save.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }).catch(function () {
      var banner = document.getElementById("console-error");
      if (banner) {
        banner.hidden = false;
      }
    });
  }, true);

  document.addEventListener("DOMContentLoaded", signIn);
}());
