// OAuth 2.0 Form Post Response Mode: the page's one form carries the authorization response to
// the application; this submits it at once. Without script, the person presses the button.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("reponse");
  if (form) {
    form.submit();
  }
});
