/* The Ticket page's media previews (templates/ticket.html).

   A preview is fetched from /console/media/<message id> with the console's credentials and shown
   from a blob: URL (the CSP allows blob: images and media). A plain src would go without them:
   inside Telegram the Mini App signs in with a bearer token (console.js keeps it in
   sessionStorage under "kefu-console-token"), which an <img> does not send; in a browser the
   session cookie goes either way. The page is swapped in by htmx, which runs this script each
   time: it sets itself up once and looks at each page as it comes. */
(function () {
  "use strict";

  function headers() {
    var token = window.sessionStorage.getItem("kefu-console-token");
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function show(element) {
    var url = element.getAttribute("data-media-src");
    element.removeAttribute("data-media-src");
    fetch(url, { headers: headers(), credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.blob();
    }).then(function (blob) {
      element.src = URL.createObjectURL(blob);
    }).catch(function () {
      element.classList.add("line-media-missing");
    });
  }

  function showAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-media-src]"), show);
  }

  if (!window.kefuTicketMedia) {
    window.kefuTicketMedia = true;
    document.addEventListener("htmx:load", function (event) {
      showAll(event.target);
    });
  }
  showAll(document);
}());
