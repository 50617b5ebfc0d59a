// While a solve runs, say so and keep the button from being pressed twice.
document.addEventListener("submit", (event) => {
  const button = document.getElementById("solve");
  if (button) {
    button.textContent = document.documentElement.lang === "en" ? "Solving…" : "求解中…";
    button.dataset.busy = "1";
  }
});

// A link or button that starts a long job (a sweep, "what binds") says so while the next page is made.
document.addEventListener("click", (event) => {
  const start = event.target.closest("[data-busy-text]");
  if (start) {
    start.textContent = start.dataset.busyText;
  }
});
