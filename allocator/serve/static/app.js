// While a solve runs, say so and keep the button from being pressed twice.
document.addEventListener("submit", (event) => {
  const button = document.getElementById("solve");
  if (button) {
    button.textContent = "求解中…";
    button.dataset.busy = "1";
  }
});
