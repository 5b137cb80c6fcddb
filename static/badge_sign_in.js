// The badge sign-in page: read a pupil's QR badge from the camera (or a photo) with jsQR and
// post the secret from its link's fragment in the page's form. The fragment never leaves the
// browser in a URL: only this form's body (with its CSRF token) carries it to the server.
(function () {
  "use strict";

  var form = document.getElementById("badge-form");
  if (!form || typeof window.jsQR !== "function") {
    return; // without the decoder the page's words say what to do
  }
  var secretField = document.getElementById("badge-secret");
  var scanner = document.getElementById("badge-scanner");
  var startButton = document.getElementById("badge-start-camera");
  var video = document.getElementById("badge-camera");
  var statusLine = document.getElementById("badge-status");
  var photo = document.getElementById("badge-photo");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var expectedLink = form.getAttribute("data-badge-link");
  var stream = null;
  var SECRET = /^[A-Za-z0-9_-]{20,100}$/;
  var SCAN_EVERY_MS = 200;

  function say(words) {
    statusLine.textContent = words;
  }

  // The secret of one of our badges' links, or null for any other text a QR code may hold.
  function secretFrom(text) {
    var link;
    try {
      link = new URL(text);
    } catch (notALink) {
      return null;
    }
    if (link.origin + link.pathname !== expectedLink) {
      return null;
    }
    var secret = link.hash.slice(1);
    return SECRET.test(secret) ? secret : null;
  }

  function submitSecret(secret) {
    stopCamera();
    secretField.value = secret;
    say("Badge found. Signing you in…");
    form.submit();
  }

  // Decode one picture (an ImageData, or anything with data, width and height) and, when it
  // shows one of our badges, sign in with it. The camera, a photo and the tests all come here.
  // Returns "submitted", "not-a-badge" or "nothing-found".
  function decodeAndSubmit(image) {
    var code = window.jsQR(image.data, image.width, image.height, {
      inversionAttempts: "dontInvert",
    });
    if (!code) {
      return "nothing-found";
    }
    var secret = secretFrom(code.data);
    if (!secret) {
      say("That QR code is not a sign-in badge. Try your badge, or ask your teacher.");
      return "not-a-badge";
    }
    submitSecret(secret);
    return "submitted";
  }

  function pixelsOf(source, width, height) {
    canvas.width = width;
    canvas.height = height;
    context.drawImage(source, 0, 0, width, height);
    return context.getImageData(0, 0, width, height);
  }

  function scanFrame() {
    if (!stream) {
      return;
    }
    if (video.readyState >= 2 && video.videoWidth > 0) {
      var outcome = decodeAndSubmit(pixelsOf(video, video.videoWidth, video.videoHeight));
      if (outcome === "submitted") {
        return;
      }
    }
    window.setTimeout(scanFrame, SCAN_EVERY_MS);
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      stream = null;
    }
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This device cannot use its camera here. Use a photo of your badge, or ask your teacher.");
      return;
    }
    say("Starting the camera…");
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "user" }, audio: false })
      .then(function (found) {
        stream = found;
        video.srcObject = found;
        video.hidden = false;
        return video.play();
      })
      .then(function () {
        say("Hold your badge up to the camera.");
        scanFrame();
      })
      .catch(function () {
        stopCamera();
        say("The camera did not start. Ask your teacher to allow the camera, or use a photo of your badge.");
      });
  }

  function readPhoto() {
    var file = photo.files && photo.files[0];
    if (!file) {
      return;
    }
    window
      .createImageBitmap(file)
      .then(function (bitmap) {
        var outcome = decodeAndSubmit(pixelsOf(bitmap, bitmap.width, bitmap.height));
        if (outcome === "nothing-found") {
          say("No badge found in that photo. Try again with the whole badge in the picture.");
        }
      })
      .catch(function () {
        say("That file is not a photo this page can read.");
      });
  }

  // A badge's link opened by a phone's own camera app: the secret is in the fragment, which no
  // server saw. Take it out of the address bar and history, and let the person press Sign in.
  function takeFragment() {
    var secret = window.location.hash.slice(1);
    if (!secret) {
      return;
    }
    window.history.replaceState(null, "", window.location.pathname);
    if (SECRET.test(secret)) {
      secretField.value = secret;
      document.getElementById("badge-ready").hidden = false;
      document.getElementById("badge-submit").hidden = false;
    }
  }

  scanner.hidden = false;
  document.getElementById("badge-needs-script").hidden = true;
  startButton.addEventListener("click", startCamera);
  photo.addEventListener("change", readPhoto);
  window.addEventListener("pagehide", stopCamera);
  takeFragment();

  window.badgeSignIn = { decodeAndSubmit: decodeAndSubmit, secretFrom: secretFrom };
})();
