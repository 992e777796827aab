"use strict";
// The login form: the PIN goes to /api/login; the answer sets the session cookie.
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("login-message");
  const pin = document.getElementById("pin");
  message.textContent = "";
  try {
    const answer = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ pin: pin.value }),
    });
    if (answer.ok) {
      location.assign("/");
      return;
    }
    const body = await answer.json().catch(() => ({}));
    message.textContent = body.error || `refused (${answer.status})`;
  } catch (error) {
    message.textContent = "cannot reach the party button's web service";
  }
  pin.select();
});
