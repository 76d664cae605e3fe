document.getElementById('now').textContent = `Loaded at ${new Date().toLocaleTimeString()}.`;
